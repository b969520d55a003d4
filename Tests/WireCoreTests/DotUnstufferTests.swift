import NIOCore
import PropertyBased
import Testing
import WireCore

@Suite struct DotUnstufferTests {
    /// Decodes `wire` fed in chunks of `chunk` bytes; returns (body, leftover, finished).
    func decode(_ wire: [UInt8], chunk: Int) -> ([UInt8], [UInt8], Bool) {
        var decoder = DotUnstuffer()
        var body: [UInt8] = []
        var input = ByteBuffer()
        var offset = 0
        while offset < wire.count, !decoder.isFinished {
            input.writeBytes(wire[offset..<min(offset + chunk, wire.count)])
            offset += chunk
            let out = decoder.decode(&input)
            body += Array(out.readableBytesView)
        }
        let leftover = Array(input.readableBytesView) + Array(wire[min(offset, wire.count)...])
        return (body, leftover, decoder.isFinished)
    }

    @Test func removesStuffingAndStopsAtTerminator() {
        let wire = Array("Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n".utf8)
        for chunk in [1, 2, 3, 5, 1000] {
            let (body, leftover, finished) = decode(wire, chunk: chunk)
            #expect(finished)
            #expect(String(decoding: body, as: UTF8.self) == "Subject: x\r\n\r\n.leading dot\r\n")
            #expect(String(decoding: leftover, as: UTF8.self) == "QUIT\r\n")
        }
    }

    @Test func dotCROnlyIsNotTheEnd() {
        let wire = Array("a\r\n.\rb\r\n.\r\n".utf8)
        for chunk in [1, 2, 100] {
            let (body, _, finished) = decode(wire, chunk: chunk)
            #expect(finished)
            #expect(body == Array("a\r\n\rb\r\n".utf8))
        }
    }

    @Test func bareLFTerminatorIsTolerated() {
        let (body, _, finished) = decode(Array("line\n.\n".utf8), chunk: 1)
        #expect(finished)
        #expect(body == Array("line\n".utf8))
    }

    @Test func emptyMessage() {
        let (body, _, finished) = decode(Array(".\r\n".utf8), chunk: 1)
        #expect(finished)
        #expect(body.isEmpty)
    }

    @Test func stuffThenUnstuffIsIdentityForAnyCRLFMessage() async {
        // Lines of arbitrary bytes without CR/LF, some starting with dots, joined with CRLF.
        let line = Gen.element(of: Array("ab.\u{7f}é .x".utf8)).map { $0 ?? 0x61 }.array(of: 0...12)
        await propertyCheck(input: line.array(of: 0...12), Gen.int(in: 1...9)) { lines, chunk in
            let message = lines.map { $0 + Array("\r\n".utf8) }.flatMap { $0 }
            var wire = ByteBuffer()
            DotStuffer.encode(message, into: &wire)
            let (body, leftover, finished) = decode(Array(wire.readableBytesView), chunk: chunk)
            #expect(finished)
            #expect(body == message)
            #expect(leftover.isEmpty)
        }
    }
}
