import IMAPCodec
import MailCore
import NIOCore
import Testing

/// APPEND messages stream through the decoder instead of being buffered.
@Suite struct IMAPFrameDecoderAppendTests {
    enum Decision {
        case accept, reject
    }

    /// Feeds `input` in chunks of `chunk` bytes, answering each `.appendMessageBegin` with the
    /// next decision. Message bytes are joined into one `.appendMessageBytes` per message so
    /// that the result does not depend on the chunking.
    func run(
        _ input: String,
        decisions: [Decision] = [],
        limits: IMAPFrameDecoder.Limits = .init(),
        chunk: Int = .max
    ) -> (events: [IMAPFrameDecoder.Event], left: Int) {
        var decoder = IMAPFrameDecoder(limits: limits)
        var decisions = decisions[...]
        var buffer = ByteBuffer()
        var out: [IMAPFrameDecoder.Event] = []
        var message: ByteBuffer?
        let bytes = Array(input.utf8)
        var offset = 0
        func take(_ events: [IMAPFrameDecoder.Event]) -> Bool {
            var decided = false
            for event in events {
                switch event {
                case .appendMessageBytes(var chunk):
                    message = message ?? ByteBuffer()
                    message!.writeBuffer(&chunk)
                    continue
                case .appendMessageEnd:
                    out.append(.appendMessageBytes(message ?? ByteBuffer()))
                    message = nil
                case .appendMessageBegin:
                    switch decisions.popFirst() ?? .accept {
                    case .accept: decoder.acceptAppendMessage()
                    case .reject: decoder.rejectAppendMessage()
                    }
                    decided = true
                default: break
                }
                out.append(event)
            }
            return decided
        }
        while offset < bytes.count {
            let end = offset + min(chunk, bytes.count - offset)
            buffer.writeBytes(bytes[offset..<end])
            offset = end
            // After a decision the decoder continues with the input it already holds.
            while take(decoder.decode(&buffer)) {}
            buffer.discardReadBytes()
        }
        return (out, buffer.readableBytes)
    }

    func begin(_ prefix: String, _ size: Int, sync: Bool = true) -> IMAPFrameDecoder.Event {
        .appendMessageBegin(prefix: ByteBuffer(string: prefix), size: size, synchronizing: sync)
    }

    func bytes(_ text: String) -> IMAPFrameDecoder.Event { .appendMessageBytes(ByteBuffer(string: text)) }

    @Test func oneMessageStreamsAndTheNextCommandFollows() {
        let input = "a1 APPEND Drafts (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {12}\r\nHello\r\nworld\r\na2 NOOP\r\n"
        let expected: [IMAPFrameDecoder.Event] = [
            begin("a1 APPEND Drafts (\\Seen) \"17-Jul-1996 02:44:25 -0700\" ", 12), bytes("Hello\r\nworld"),
            .appendMessageEnd, .appendEnd, .command(ByteBuffer(string: "a2 NOOP")),
        ]
        for chunk in [1, 2, 3, 5, 64, .max] {
            let result = run(input, chunk: chunk)
            #expect(result.events == expected, "chunk \(chunk)")
            #expect(result.left == 0)
        }
    }

    @Test func multiAppendAndMailboxLiteral() {
        let input =
            "a1 append {6}\r\nMy Box ~{3+}\r\nx\0y (\\Flagged) {0}\r\n \" 1-Jan-2026 00:00:00 +0000\" {2}\r\nhi\r\n"
        let expected: [IMAPFrameDecoder.Event] = [
            .continuationRequested, begin("a1 append {6}\r\nMy Box ", 3, sync: false),
            .appendMessageBytes(ByteBuffer(bytes: [0x78, 0, 0x79])), .appendMessageEnd, begin(" (\\Flagged) ", 0),
            bytes(""), .appendMessageEnd, begin(" \" 1-Jan-2026 00:00:00 +0000\" ", 2), bytes("hi"), .appendMessageEnd,
            .appendEnd,
        ]
        for chunk in [1, 4, .max] {
            #expect(run(input, chunk: chunk).events == expected, "chunk \(chunk)")
        }
    }

    @Test func prefixesParseWithTheAppendHelpers() throws {
        let start = try IMAPCommandParser.parseAppendStart(ByteBuffer(string: "a1 APPEND {6}\r\nMy Box (\\Seen $X) "))
        #expect(start.tag == "a1")
        #expect(start.mailbox == MailboxArgument("My Box"))
        #expect(start.2 == AppendMessage(flags: [.seen, Flag("$X")!]))
        let next = try IMAPCommandParser.parseAppendNext(ByteBuffer(string: " \"17-Jul-1996 02:44:25 -0700\" "))
        #expect(next == AppendMessage(internalDate: "17-Jul-1996 02:44:25 -0700"))
        #expect(try IMAPCommandParser.parseAppendNext(ByteBuffer(string: " ")) == AppendMessage())
        #expect(throws: IMAPParseError.self) {
            try IMAPCommandParser.parseAppendStart(ByteBuffer(string: "a1 APPEND "))
        }
        #expect(throws: IMAPParseError.self) {
            try IMAPCommandParser.parseAppendStart(ByteBuffer(string: "a1 COPY x "))
        }
        #expect(throws: IMAPParseError.self) { try IMAPCommandParser.parseAppendNext(ByteBuffer(string: " x ")) }
        #expect(throws: IMAPParseError.self) { try IMAPCommandParser.parseAppendNext(ByteBuffer(string: "(\\Seen) ")) }
    }

    @Test func rejectedSynchronizingMessageIsNeverSent() {
        let input = "a1 APPEND Nowhere {5}\r\na2 NOOP\r\n"
        for chunk in [1, .max] {
            let result = run(input, decisions: [.reject], chunk: chunk)
            #expect(result.events == [begin("a1 APPEND Nowhere ", 5), .command(ByteBuffer(string: "a2 NOOP"))])
        }
    }

    @Test func rejectedNonSynchronizingMessageIsDiscardedWithItsLine() {
        let input = "a1 APPEND Nowhere {5+}\r\nhello {3+}\r\nabc\r\na2 NOOP\r\n"
        for chunk in [1, 3, .max] {
            let result = run(input, decisions: [.reject], chunk: chunk)
            #expect(
                result.events == [begin("a1 APPEND Nowhere ", 5, sync: false), .command(ByteBuffer(string: "a2 NOOP"))]
            )
        }
    }

    @Test func rejectedMessageLineMayAnnounceASynchronizingMessageThatNeverComes() {
        let input = "a1 APPEND Nowhere {5+}\r\nhello {3}\r\na2 NOOP\r\n"
        #expect(
            run(input, decisions: [.reject]).events == [
                begin("a1 APPEND Nowhere ", 5, sync: false), .command(ByteBuffer(string: "a2 NOOP")),
            ]
        )
    }

    @Test func secondMessageRejected() {
        let input = "a1 APPEND INBOX {1}\r\nx {2}\r\nb2 NOOP\r\n"
        let result = run(input, decisions: [.accept, .reject])
        #expect(
            result.events == [
                begin("a1 APPEND INBOX ", 1), bytes("x"), .appendMessageEnd, begin(" ", 2),
                .command(ByteBuffer(string: "b2 NOOP")),
            ]
        )
    }

    @Test func nothingMovesUntilTheEngineDecides() {
        var decoder = IMAPFrameDecoder()
        var input = ByteBuffer(string: "a1 APPEND INBOX {3}\r\nabc\r\na2 NOOP\r\n")
        #expect(decoder.decode(&input) == [begin("a1 APPEND INBOX ", 3)])
        #expect(decoder.decode(&input) == [])
        #expect(input.readableBytes == 14)
        decoder.rejectAppendMessage()
        // A client that sends a refused synchronizing literal anyway gets its bytes parsed as lines.
        #expect(
            decoder.decode(&input) == [.command(ByteBuffer(string: "abc")), .command(ByteBuffer(string: "a2 NOOP"))]
        )
        decoder.acceptAppendMessage()  // no message pending: ignored
        #expect(decoder.decode(&input) == [])
    }

    @Test func oversizedMessages() {
        let limits = IMAPFrameDecoder.Limits(maxLiteralSize: 10)
        #expect(
            run("a1 APPEND INBOX {11}\r\na2 NOOP\r\n", limits: limits).events == [
                .literalTooLarge(tag: "a1", size: 11, mustClose: false), .command(ByteBuffer(string: "a2 NOOP")),
            ]
        )
        #expect(
            run("a1 APPEND INBOX {11+}\r\nhello world\r\na2 NOOP\r\n", limits: limits).events == [
                .literalTooLarge(tag: "a1", size: 11, mustClose: true)
            ]
        )
        // The second MULTIAPPEND message is checked too, and reported with the command's tag.
        #expect(
            run("a1 APPEND INBOX {1}\r\nx {99999999999999999999}\r\na2 NOOP\r\n", limits: limits).events == [
                begin("a1 APPEND INBOX ", 1), bytes("x"), .appendMessageEnd,
                .literalTooLarge(tag: "a1", size: .max, mustClose: false), .command(ByteBuffer(string: "a2 NOOP")),
            ]
        )
        // A message may be larger than maxCommandSize: it is never buffered.
        let big = String(repeating: "m", count: 300)
        let streamed = IMAPFrameDecoder.Limits(maxLiteralSize: 1000, maxCommandSize: 100)
        #expect(
            run("a1 APPEND INBOX {300+}\r\n\(big)\r\n", limits: streamed, chunk: 7).events == [
                begin("a1 APPEND INBOX ", 300, sync: false), bytes(big), .appendMessageEnd, .appendEnd,
            ]
        )
    }

    @Test func malformedTextAfterAMessage() {
        #expect(
            run("a1 APPEND INBOX {1}\r\nx (\\Seen)\r\na2 NOOP\r\n").events == [
                begin("a1 APPEND INBOX ", 1), bytes("x"), .appendMessageEnd, .appendMalformed(tag: "a1"),
                .command(ByteBuffer(string: "a2 NOOP")),
            ]
        )
    }

    @Test func appendWithoutALiteralIsAnOrdinaryFrame() {
        #expect(run("a1 APPEND INBOX\r\n").events == [.command(ByteBuffer(string: "a1 APPEND INBOX"))])
        #expect(
            run("a1 APPENDX {1}\r\nx\r\n").events == [
                .continuationRequested, .command(ByteBuffer(string: "a1 APPENDX {1}\r\nx")),
            ]
        )
    }
}
