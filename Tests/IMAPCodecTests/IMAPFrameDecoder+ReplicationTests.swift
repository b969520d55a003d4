import IMAPCodec
import NIOCore
import Testing

/// The IMAP flavour of replication (`tag SYNCAPPLY …`): the frame decoder stops in front of
/// the command and leaves its bytes, file literals and all, to the csync decoder.
@Suite struct IMAPFrameDecoderReplicationTests {
    @Test(arguments: [
        "S1 SYNCAPPLY MESSAGE (%{default 6c 3}\r\nabc)\r\n", "S0 syncget USER alice\r\n", "S2 SYNCRESTART\r\n",
    ])
    func stopsInFrontOfSyncCommands(_ wire: String) {
        for chunk in [1, 3, wire.utf8.count] {
            var decoder = IMAPFrameDecoder()
            var input = ByteBuffer()
            var events: [IMAPFrameDecoder.Event] = []
            var offset = 0
            let bytes = Array(wire.utf8)
            while offset < bytes.count {
                input.writeBytes(bytes[offset..<min(offset + chunk, bytes.count)])
                offset += chunk
                events += decoder.decode(&input)
            }
            let tag = String(wire.prefix { $0 != " " })
            #expect(events == [.replicationCommand(tag: tag)], "chunk \(chunk)")
            #expect(String(buffer: input) == wire, "nothing of the command is consumed")
            // The engine reads the command; framing resumes at the next one.
            input.clear()
            input.writeString("a NOOP\r\n")
            decoder.resumeAfterReplicationCommand()
            #expect(decoder.decode(&input) == [.command(ByteBuffer(string: "a NOOP"))])
        }
    }

    @Test(arguments: ["a SYNCX\r\n", "a SYNC\r\n", "a NOOP\r\n", "a SELECT SYNCAPPLY\r\n", "* SYNCAPPLY x\r\n"])
    func otherLinesAreOrdinaryCommands(_ wire: String) {
        var decoder = IMAPFrameDecoder()
        var input = ByteBuffer(string: wire)
        let events = decoder.decode(&input)
        // "\r\n" is one Character: dropLast() removes the whole line end.
        #expect(events == [.command(ByteBuffer(string: String(wire.dropLast())))])
    }
}
