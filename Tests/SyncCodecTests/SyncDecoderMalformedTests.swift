import NIOCore
import SyncCodec
import Testing

/// Malformed input gives a clean error (with Cyrus's reply) and decoding goes on.
@Suite struct SyncDecoderMalformedTests {
    static func rejected(
        _ wire: String,
        role: SyncDecoder.Role = .replica
    ) -> (errors: [SyncProtocolError], next: [SyncCommand]) {
        let bytes = Array((wire + "NOOP\r\n").utf8)
        let events = SyncTestSupport.decode(bytes, role: role)
        #expect(
            SyncTestSupport.merged(SyncTestSupport.decode(bytes, role: role, chunk: 1))
                == SyncTestSupport.merged(events)
        )
        return (SyncTestSupport.errors(events), SyncTestSupport.commands(events))
    }

    @Test(arguments: [
        // (input, expected code, expected reply text)
        ("FOO bar\r\n", "unrecognizedCommand", "BAD IMAP_PROTOCOL_ERROR Unrecognized command"),
        ("FOO\r\n", "unrecognizedCommand", "BAD IMAP_PROTOCOL_ERROR Unrecognized command"),
        ("C01 CAPABILITY\r\n", "unrecognizedCommand", "BAD IMAP_PROTOCOL_ERROR Unrecognized command"),
        ("\r\n", "nullCommand", "BAD Null command"),
        ("GET USER\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse GET line"),
        ("GET\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse GET line"),
        ("APPLY X (a b\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X (a b))\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X a)\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X a b\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X %(A)\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X %((a) b)\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X %(\\Seen b)\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X %x\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X \"abc\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X (\\)\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X {3x}\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X {}\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY X {3} trailing\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("APPLY MESSAGE (%{default}\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        (
            "APPLY MESSAGE (%{default abc -1}\r\n", "malformedDList",
            "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"
        ),
        (
            "APPLY MESSAGE (%{default abc 99999999999}\r\n", "malformedDList",
            "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"
        ),
        ("APPLY MESSAGE (%{a b 1} x\r\n", "malformedDList", "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"),
        ("NOOP extra\r\n", "badArguments", "BAD Unexpected extra arguments"),
        ("AUTHENTICATE\r\n", "badArguments", "BAD Missing required argument to Authenticate"),
        ("COMPRESS\r\n", "badArguments", "BAD Missing required argument to Compress"),
        ("COMPRESS DEF\rLATE\r\n", "badArguments", "BAD bare CR in a line"),
    ])
    func rejectedCleanly(_ wire: String, _ code: String, _ reply: String) {
        let (errors, next) = Self.rejected(wire)
        #expect(errors.map(\.code.description) == [code], "\(wire.debugDescription)")
        #expect(errors.first?.recovery == .lineDiscarded)
        var buffer = ByteBuffer()
        errors.first?.reply.write(into: &buffer)
        #expect(String(buffer: buffer) == reply + "\r\n")
        #expect(next.last == .noop, "the next command is read: \(wire.debugDescription)")
    }

    /// A rejected line's literals are skipped, not read as commands (Cyrus's eatline does the same).
    @Test func literalsOfRejectedLinesAreSkipped() {
        let (errors, next) = Self.rejected("FOO {11+}\r\nNOOP\r\nNOOP\r\n")
        #expect(errors.count == 1)
        #expect(next == [.noop])
        let (fileErrors, afterFile) = Self.rejected("APPLY MESSAGE x (%{default g 6}\r\nEXIT\r\n)\r\n")
        #expect(fileErrors.count == 1)
        #expect(afterFile == [.noop])
    }

    /// Truncated input is not an error: the decoder waits for more.
    @Test func truncatedInputWaits() {
        for wire in ["APPLY X {5+}\r\nab", "APPLY MESSAGE (%{d g 9}\r\nabc", "GET USER ali", "APPLY X (a"] {
            let events = SyncTestSupport.decode(Array(wire.utf8), role: .replica)
            #expect(SyncTestSupport.errors(events).isEmpty)
            #expect(SyncTestSupport.commands(events).isEmpty)
        }
    }

    /// A literal whose announced size is wrong swallows the bytes it announced; what follows
    /// is then malformed and reported, and the stream recovers at the next line.
    @Test func wrongLiteralSizes() {
        let short = Self.rejected("APPLY SIEVE %(CONTENT {2+}\r\nabcd)\r\n")
        #expect(short.errors.map(\.code) == [.malformedDList])
        #expect(short.next == [.noop])
        let long = SyncTestSupport.decode(
            Array("APPLY SIEVE %(CONTENT {8+}\r\nabcd)\r\nNOOP\r\nNOOP\r\n".utf8),
            role: .replica
        )
        #expect(SyncTestSupport.errors(long).count == 1)
        #expect(SyncTestSupport.commands(long) == [.noop])
    }

    @Test func malformedResponses() {
        for wire in ["HELLO\r\n", "*\r\n", "* Fatal oops\r\n", "* MISSING (a\r\n", "A01 OK done\r\n"] {
            let events = SyncTestSupport.decode(Array((wire + "OK success\r\n").utf8), role: .master, skipBanner: true)
            #expect(SyncTestSupport.errors(events).map(\.recovery) == [.mustClose], "\(wire.debugDescription)")
            #expect(SyncTestSupport.responses(events).isEmpty)
        }
    }
}

extension SyncDecoderMalformedTests {
    /// A file literal in a key position is refused, and its body is skipped, not read as
    /// commands.
    @Test func fileLiteralAsKeySkipsItsBody() {
        let (errors, next) = Self.rejected("APPLY X %(%{p g 6}\r\nEXIT\r\n A)\r\n")
        #expect(errors.map(\.code) == [.malformedDList])
        #expect(next == [.noop])
    }

    /// A long discarded line is not held whole.
    @Test func discardedLinesAreNotHeld() {
        var decoder = SyncDecoder(role: .replica)
        var input = ByteBuffer(string: "FOO ")
        _ = decoder.decode(&input)
        for _ in 0..<100 {
            input = ByteBuffer(repeating: 0x61, count: 10_000)
            _ = decoder.decode(&input)
            #expect(decoder.heldByteCount <= 4200)
        }
        input = ByteBuffer(string: "\r\nNOOP\r\n")
        #expect(decoder.decode(&input) == [.commandReceived(.noop)])
    }
}
