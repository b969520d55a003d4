import NIOCore
import Testing
import WireCore

@Suite struct LineFramerTests {
    func frames(_ input: String, max: Int = 16, chunk: Int? = nil) -> [LineFramer.Frame] {
        var framer = LineFramer(maxLineLength: max)
        var buffer = ByteBuffer()
        var result: [LineFramer.Frame] = []
        let bytes = Array(input.utf8)
        let step = chunk ?? Swift.max(bytes.count, 1)
        var offset = 0
        while offset < bytes.count {
            buffer.writeBytes(bytes[offset..<min(offset + step, bytes.count)])
            offset += step
            while let frame = framer.nextFrame(&buffer) { result.append(frame) }
            buffer.discardReadBytes()
        }
        return result
    }

    @Test func splitsCRLFAndBareLF() {
        #expect(
            frames("A\r\nBB\nC\r\n") == [
                .line(ByteBuffer(string: "A")), .line(ByteBuffer(string: "BB")), .line(ByteBuffer(string: "C")),
            ]
        )
    }

    @Test func leavesIncompleteLineBuffered() {
        var framer = LineFramer(maxLineLength: 100)
        var buffer = ByteBuffer(string: "NOOP\r\nRS")
        #expect(framer.nextFrame(&buffer) == .line(ByteBuffer(string: "NOOP")))
        #expect(framer.nextFrame(&buffer) == nil)
        #expect(buffer.readableBytes == 2)
    }

    @Test func byteAtATimeGivesSameFrames() {
        let input = "MAIL FROM:<a@b>\r\nRCPT TO:<c>\r\n\r\nDATA\r\n"
        #expect(frames(input, max: 64, chunk: 1) == frames(input, max: 64))
    }

    @Test func overlongLineIsReportedOnceAndFramingRecovers() {
        let long = String(repeating: "x", count: 100)
        for chunk in [1, 7, 1000] {
            #expect(
                frames(long + "\r\nNOOP\r\n", max: 16, chunk: chunk) == [.tooLong, .line(ByteBuffer(string: "NOOP"))]
            )
        }
    }

    @Test func overlongLineDoesNotSwallowPipelinedLinesInTheSameRead() {
        let input = String(repeating: "x", count: 100) + "\r\nNOOP\r\nQUIT\r\n"
        #expect(
            frames(input, max: 16) == [.tooLong, .line(ByteBuffer(string: "NOOP")), .line(ByteBuffer(string: "QUIT"))]
        )
    }

    @Test func lineExactlyAtLimitIsAccepted() {
        let exact = String(repeating: "y", count: 16)
        #expect(frames(exact + "\r\n", max: 16, chunk: 1) == [.line(ByteBuffer(string: exact))])
        #expect(frames(exact + "z\r\n", max: 16, chunk: 1) == [.tooLong])
    }
}
