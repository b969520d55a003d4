import NIOCore
import SyncCodec
import Testing

/// File literals stream through without being held; the decoder pauses where the byte stream
/// changes; synchronising literals follow the configured policy.
@Suite struct SyncDecoderStreamingTests {
    static let guid = "6cde83a0be6945226dc22cf647c994d66bfb80cc"

    /// A 20 MiB message in 64 KiB reads: bytes leave as they come, the decoder holds none.
    @Test func largeMessageIsStreamedNotBuffered() throws {
        let size = 20 * 1024 * 1024
        var decoder = SyncDecoder(role: .replica)
        var input = ByteBuffer(string: "APPLY MESSAGE (%{default \(Self.guid) \(size)}\r\n")
        var events = decoder.decode(&input)
        #expect(
            events == [.fileLiteralStarted(FileLiteral(partition: "default", guidText: Self.guid, size: UInt32(size)))]
        )
        let chunk = [UInt8](repeating: 0x41, count: 64 * 1024)
        var streamed = 0
        var finished = false
        for _ in 0..<(size / chunk.count) {
            input.clear()
            input.writeBytes(chunk)
            for event in decoder.decode(&input) {
                if case .fileLiteralBytesReceived(let bytes) = event {
                    streamed += bytes.readableBytes
                } else {
                    #expect(event == .fileLiteralFinished && streamed == size)
                    finished = true
                }
            }
            #expect(input.readableBytes == 0)
            #expect(decoder.heldByteCount == 0)
        }
        input.clear()
        input.writeString(")\r\n")
        events = decoder.decode(&input)
        #expect(streamed == size && finished)
        #expect(
            events == [
                .commandReceived(
                    .apply(
                        .init(
                            "MESSAGE",
                            .list([.file(FileLiteral(partition: "default", guidText: Self.guid, size: UInt32(size)))])
                        )
                    )
                )
            ]
        )
    }

    @Test func byteAtATimeEqualsWholeBuffer() {
        let wire = Array(
            ("APPLY MESSAGE (%{default \(Self.guid) 5}\r\nab\r\nc %{p2 \(Self.guid) 0}\nNIL)\r\n"
                + "APPLY SIEVE %(USERID alice CONTENT {7+}\r\nx\r\n(y)\" FILENAME a)\r\n"
                + "FOO {3+}\r\nabc\r\nNOOP\r\nGET USER\r\nEXIT\r\n").utf8
        )
        let whole = SyncTestSupport.decode(wire, role: .replica)
        for chunk in [1, 2, 3, 7, 64] {
            #expect(SyncTestSupport.merged(SyncTestSupport.decode(wire, role: .replica, chunk: chunk)) == whole)
        }
        #expect(SyncTestSupport.fileBodies(whole) == [Array("ab\r\nc".utf8), []])
        #expect(SyncTestSupport.commands(whole).count == 4)
        #expect(SyncTestSupport.errors(whole).map(\.code) == [.unrecognizedCommand, .malformedDList])
    }

    /// After AUTHENTICATE, STARTTLS and COMPRESS the rest of the buffer is left alone: it may
    /// be a SASL response, TLS, or deflate.
    @Test func pausesWhereTheStreamChanges() {
        var decoder = SyncDecoder(role: .replica)
        var input = ByteBuffer(string: "AUTHENTICATE PLAIN\r\nAGN5cnVzAHNlY3JldA==\r\nCOMPRESS DEFLATE\r\n\u{1}\u{2}")
        #expect(decoder.decode(&input) == [.commandReceived(.authenticate(mechanism: "PLAIN", initialResponse: nil))])
        #expect(decoder.decode(&input) == [])
        decoder.expectSASLResponse()
        #expect(
            decoder.decode(&input) == [
                .saslResponseReceived("AGN5cnVzAHNlY3JldA=="), .commandReceived(.compress(algorithm: "DEFLATE")),
            ]
        )
        #expect(input.readableBytes == 2, "the compressed bytes stay for the inflater")
        decoder.resume()
        var inflated = ByteBuffer(string: "STARTTLS\r\nNOOP\r\n")
        #expect(decoder.decode(&inflated) == [.commandReceived(.startTLS)])
        decoder.resume()
        #expect(decoder.decode(&inflated) == [.commandReceived(.noop)])
    }

    @Test func masterPausesAfterTheRequestedStatusAndRereadsTheBanner() {
        var decoder = SyncDecoder(role: .master)
        var input = ByteBuffer(
            string: "* SASL PLAIN\r\n* STARTTLS\r\n* OK r\r\nOK Begin TLS negotiation now\r\n\u{16}\u{3}"
        )
        decoder.pauseAfterNextStatus()
        #expect(
            decoder.decode(&input) == [
                .responseReceived(.capability(name: "SASL", parameters: ["PLAIN"])),
                .responseReceived(.capability(name: "STARTTLS", parameters: [])),
                .responseReceived(.greeting("r")),
                .responseReceived(.status(SyncStatus(.ok, text: "Begin TLS negotiation now"))),
            ]
        )
        #expect(input.readableBytes == 2)
        decoder.resume()
        decoder.expectBanner()
        var tls = ByteBuffer(string: "* SASL PLAIN\r\n* OK r\r\n* LSUB (a)\r\n")
        #expect(
            decoder.decode(&tls) == [
                .responseReceived(.capability(name: "SASL", parameters: ["PLAIN"])),
                .responseReceived(.greeting("r")),
                .responseReceived(.data(.init("LSUB", .list([.string("a")])))),
            ]
        )
    }

    /// §2.4: `{n}` is read like `{n+}` unless continuations are requested.
    @Test func synchronizingLiteralPolicy() {
        let wire = Array("APPLY SIEVE %(CONTENT {2}\r\nab)\r\n".utf8)
        let silent = SyncTestSupport.decode(wire, role: .replica)
        #expect(!silent.contains(.continuationRequested))
        #expect(SyncTestSupport.commands(silent).count == 1)
        let asking = SyncTestSupport.decode(wire, role: .replica, literals: .requestContinuation)
        #expect(asking.first == .continuationRequested)
        #expect(SyncTestSupport.commands(asking) == SyncTestSupport.commands(silent))
        let plus = SyncTestSupport.decode(
            Array("APPLY SIEVE %(CONTENT {2+}\r\nab)\r\n".utf8),
            role: .replica,
            literals: .requestContinuation
        )
        #expect(!plus.contains(.continuationRequested))
    }

    @Test func literalsInResponsesAndKeys() {
        let wire = Array("* SIEVE %(USERID alice {7}\r\nCONTENT {3}\r\na\nb)\r\nOK success\r\n".utf8)
        let events = SyncTestSupport.decode(wire, role: .master, skipBanner: true)
        #expect(
            SyncTestSupport.responses(events) == [
                .data(
                    .init(
                        "SIEVE",
                        .kvlist([.init("USERID", .string("alice")), .init("CONTENT", .literal(Array("a\nb".utf8)))])
                    )
                ),
                .status(.success),
            ]
        )
    }

    @Test func fileLiteralInAResponse() {
        let wire = Array("* MESSAGE %{default \(Self.guid) 4}\r\nhi\r\n\r\nOK success\r\n".utf8)
        let events = SyncTestSupport.decode(wire, role: .master, skipBanner: true)
        #expect(SyncTestSupport.fileBodies(events) == [Array("hi\r\n".utf8)])
        #expect(SyncTestSupport.responses(events).count == 2)
        #expect(SyncTestSupport.reencode(events) == wire)
    }
}
