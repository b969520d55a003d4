import NIOCore
import POP3Codec
import PropertyBased
import Testing
import WireCore

@Suite struct POP3MessageEncoderTests {
    /// Encodes `message` fed in `chunk`-byte pieces.
    func encode(_ message: String, bodyLines: Int? = nil, chunk: Int = 1 << 20) -> String {
        String(decoding: encode(Array(message.utf8), bodyLines: bodyLines, chunk: chunk), as: UTF8.self)
    }

    func encode(_ message: [UInt8], bodyLines: Int? = nil, chunk: Int) -> [UInt8] {
        var encoder = POP3MessageEncoder(bodyLines: bodyLines)
        var out = ByteBuffer()
        var offset = 0
        while offset < message.count {
            var piece = ByteBuffer()
            piece.writeBytes(message[offset..<min(offset + chunk, message.count)])
            encoder.encode(piece, into: &out)
            offset += chunk
        }
        encoder.finish(into: &out)
        return Array(out.readableBytesView)
    }

    @Test func stuffsDotsAndTerminates() {
        #expect(encode("a\r\n.b\r\n..c\r\n.\r\n") == "a\r\n..b\r\n...c\r\n..\r\n.\r\n")
    }

    @Test func turnsBareLFIntoCRLFAndEndsTheLastLine() {
        #expect(encode("a\nb\r\nc") == "a\r\nb\r\nc\r\n.\r\n")
        #expect(encode("a\r") == "a\r\n.\r\n")
        #expect(encode("") == ".\r\n")
    }

    @Test func topSendsHeaderBlankLineAndNBodyLines() {
        let message = "Subject: x\r\nFrom: y\r\n\r\none\r\n.two\r\nthree\r\n"
        #expect(encode(message, bodyLines: 0) == "Subject: x\r\nFrom: y\r\n\r\n.\r\n")
        #expect(encode(message, bodyLines: 2) == "Subject: x\r\nFrom: y\r\n\r\none\r\n..two\r\n.\r\n")
        #expect(encode(message, bodyLines: 99) == "Subject: x\r\nFrom: y\r\n\r\none\r\n..two\r\nthree\r\n.\r\n")
        // No blank line: the whole message is header.
        #expect(encode("Subject: x\r\nFrom: y", bodyLines: 0) == "Subject: x\r\nFrom: y\r\n.\r\n")
    }

    @Test func listingsAreStuffedToo() {
        var out = ByteBuffer()
        POP3MessageEncoder.writeLines(["1 100", ".odd"], into: &out)
        #expect(String(buffer: out) == "1 100\r\n..odd\r\n.\r\n")
    }

    /// Whatever the chunking, a client's unstuffing gives back the message (with CRLF lines).
    @Test func clientUnstuffingGivesBackTheMessage() async {
        let line = Gen.element(of: Array("ab.\u{7f}é x\r".utf8)).map { $0 ?? 0x61 }.array(of: 0...12)
        await propertyCheck(
            input: line.array(of: 0...12),
            Gen.int(in: 1...9),
            Gen.element(of: ["\r\n", "\n"]).map { $0 ?? "\r\n" }
        ) { lines, chunk, ending in
            // A CR right before the line end would merge with it; keep generated lines CR-free at the end.
            let clean = lines.map { $0.last == UInt8(ascii: "\r") ? Array($0.dropLast()) + [0x61] : $0 }
            let message = clean.map { $0 + Array(ending.utf8) }.flatMap { $0 }
            let wire = encode(message, chunk: chunk)
            var input = ByteBuffer()
            input.writeBytes(wire)
            var decoder = DotUnstuffer()
            let body = decoder.decode(&input)
            #expect(decoder.isFinished)
            #expect(input.readableBytes == 0)
            let expected = clean.map { $0 + Array("\r\n".utf8) }.flatMap { $0 }
            #expect(Array(body.readableBytesView) == expected)
        }
    }
}
