import IMAPCodec
import NIOCore
import Testing

@Suite struct IMAPFrameDecoderTests {
    func events(
        _ input: String,
        limits: IMAPFrameDecoder.Limits = .init(),
        chunk: Int? = nil
    ) -> [IMAPFrameDecoder.Event] {
        var decoder = IMAPFrameDecoder(limits: limits)
        var buffer = ByteBuffer()
        var out: [IMAPFrameDecoder.Event] = []
        let bytes = Array(input.utf8)
        let step = chunk ?? Swift.max(bytes.count, 1)
        var offset = 0
        while offset < bytes.count {
            buffer.writeBytes(bytes[offset..<Swift.min(offset + step, bytes.count)])
            offset += step
            out += decoder.decode(&buffer)
            buffer.discardReadBytes()
        }
        return out
    }

    func command(_ text: String) -> IMAPFrameDecoder.Event { .command(ByteBuffer(string: text)) }

    @Test func simpleCommandsAndPipelining() {
        #expect(events("a1 NOOP\r\na2 CAPABILITY\r\n") == [command("a1 NOOP"), command("a2 CAPABILITY")])
    }

    @Test func synchronizingLiteralAsksForContinuation() {
        let input = "a1 LOGIN {5}\r\nalice {6}\r\nsecret\r\n"
        #expect(
            events(input) == [
                .continuationRequested, .continuationRequested, command("a1 LOGIN {5}\r\nalice {6}\r\nsecret"),
            ]
        )
    }

    @Test func nonSynchronizingLiteralDoesNot() {
        #expect(events("a1 LOGIN {5+}\r\nalice pw\r\n") == [command("a1 LOGIN {5+}\r\nalice pw")])
    }

    @Test func literalMayContainCRLFAndBraces() {
        let input = "a1 LOGIN {8+}\r\nx\r\n{3}\r\n pw\r\n"
        #expect(events(input) == [command("a1 LOGIN {8+}\r\nx\r\n{3}\r\n pw")])
    }

    @Test func byteAtATimeGivesTheSameEvents() {
        let input = "a1 LOGIN {5}\r\nalice {6+}\r\nsecret\r\nb2 NOOP\r\nc3 SELECT \"INBOX\"\r\n"
        let whole = events(input)
        for chunk in [1, 2, 3, 7] { #expect(events(input, chunk: chunk) == whole) }
    }

    @Test func oversizedSynchronizingLiteralIsRefusedBeforeAnyBytesAndSessionContinues() {
        let limits = IMAPFrameDecoder.Limits(maxLiteralSize: 100)
        #expect(
            events("a1 LOGIN {101}\r\nb2 NOOP\r\n", limits: limits) == [
                .literalTooLarge(tag: "a1", size: 101, mustClose: false), command("b2 NOOP"),
            ]
        )
        // A size no integer holds is still refused cleanly.
        #expect(
            events("a1 LOGIN {99999999999999999999}\r\n", limits: limits) == [
                .literalTooLarge(tag: "a1", size: Int.max, mustClose: false)
            ]
        )
    }

    @Test func oversizedNonSynchronizingLiteralEndsTheConnection() {
        let limits = IMAPFrameDecoder.Limits(maxLiteralSize: 100)
        #expect(
            events(
                "a1 APPEND INBOX {5000+}\r\n" + String(repeating: "x", count: 5000) + "\r\nb2 NOOP\r\n",
                limits: limits
            )
                == [.literalTooLarge(tag: "a1", size: 5000, mustClose: true)]
        )
    }

    @Test func overlongLineIsReportedAndFramingRecovers() {
        let limits = IMAPFrameDecoder.Limits(maxLineLength: 32)
        let long = "a1 SELECT " + String(repeating: "x", count: 100)
        for chunk in [1, 5, 1000] {
            #expect(
                events(long + "\r\nb2 NOOP\r\n", limits: limits, chunk: chunk) == [
                    .lineTooLong(tag: "a1"), command("b2 NOOP"),
                ]
            )
        }
    }

    @Test func tooManyLiteralsEndTheConnection() {
        let limits = IMAPFrameDecoder.Limits(maxLiterals: 2)
        #expect(
            events("a1 X {1+}\r\na {1+}\r\nb {1+}\r\nc\r\n", limits: limits) == [.commandTooLarge(tag: "a1")]
        )
    }
}
