import CompressNIO
import NIOCore
import NIOEmbedded
import Testing

@testable import CorvidRuntime

@Suite struct DeflateHandlersTests {
    /// Inflates a raw deflate stream incrementally, as a client's zlib would.
    final class PeerInflater {
        let inflater: ZlibDecompressor
        init() throws { inflater = try ZlibDecompressor(algorithm: .deflate, windowSize: 15) }

        func inflate(_ input: ByteBuffer) throws -> String {
            var input = input
            var text = ""
            while true {
                var output = ByteBufferAllocator().buffer(capacity: 64 * 1024)
                var full = false
                do {
                    try inflater.inflate(from: &input, to: &output)
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    full = true
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                }
                text += String(buffer: output)
                if !full && input.readableBytes == 0 { return text }
            }
        }
    }

    /// Deflates as a client's zlib would, sync-flushing each call.
    final class PeerDeflater {
        let deflater: ZlibCompressor
        init() throws { deflater = try ZlibCompressor(algorithm: .deflate) }

        func deflate(_ text: String) throws -> ByteBuffer {
            var input = ByteBuffer(string: text)
            var output = ByteBufferAllocator().buffer(capacity: deflater.maxSize(from: input))
            try deflater.deflate(from: &input, to: &output, flush: .sync)
            return output
        }
    }

    @Test func everyFlushIsDecodableAtOnce() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(try DeflateCompressor())
        let peer = try PeerInflater()
        var sent = 0
        var compressed = 0
        for index in 0..<500 {
            let line = "* \(index) FETCH (FLAGS (\\Seen) UID \(1000 + index))\r\n"
            // Several writes, then one flush, as a session writes a response in pieces.
            try channel.writeOutbound(ByteBuffer(string: String(line.prefix(10))))
            try channel.writeAndFlush(ByteBuffer(string: String(line.dropFirst(10)))).wait()
            var chunk = ByteBuffer()
            while var part = try channel.readOutbound(as: ByteBuffer.self) { chunk.writeBuffer(&part) }
            compressed += chunk.readableBytes
            sent += line.utf8.count
            // The sync flush ends with the empty stored block 00 00 FF FF.
            #expect(Array(chunk.readableBytesView.suffix(4)) == [0, 0, 0xFF, 0xFF])
            #expect(try peer.inflate(chunk) == line, "line \(index) decodes without waiting for more")
        }
        #expect(compressed < sent, "similar lines share the window")
        #expect(try channel.finish().isClean)
    }

    @Test func roundTripsThroughBothHandlers() throws {
        let sender = EmbeddedChannel()
        try sender.pipeline.syncOperations.addHandler(try DeflateCompressor())
        let receiver = EmbeddedChannel()
        try receiver.pipeline.syncOperations.addHandler(try DeflateDecompressor())
        var expected = ""
        for index in 0..<2000 {
            let text = "a\(index) UID FETCH \(index):* (FLAGS)\r\n"
            expected += text
            if index % 7 == 0 {
                try sender.writeAndFlush(ByteBuffer(string: text)).wait()
            } else {
                try sender.writeOutbound(ByteBuffer(string: text))
            }
        }
        sender.flush()
        var received = ""
        while let chunk = try sender.readOutbound(as: ByteBuffer.self) {
            try receiver.writeInbound(chunk)
            while let plain = try receiver.readInbound(as: ByteBuffer.self) { received += String(buffer: plain) }
        }
        #expect(received == expected)
        _ = try sender.finish()
        _ = try receiver.finish()
    }

    /// Holds `read()` while "full", as `NIOAsyncChannel` does: full after each read cycle
    /// (`channelReadComplete`) until the test has drained it and calls ``release(_:)``.
    final class ReadGate: ChannelDuplexHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        typealias OutboundIn = ByteBuffer
        var open = true
        var held = false

        func channelReadComplete(context: ChannelHandlerContext) {
            open = false
            context.fireChannelReadComplete()
        }

        func read(context: ChannelHandlerContext) {
            if open { context.read() } else { held = true }
        }

        func release(_ context: ChannelHandlerContext) {
            open = true
            if held {
                held = false
                context.read()
            }
        }
    }

    @Test func aDecompressionBombIsDeliveredInBoundedReads() throws {
        let total = 4 * 1024 * 1024
        let bomb = try deflatedRepeating(0x41, count: total)
        #expect(bomb.readableBytes < 64 * 1024)

        let channel = EmbeddedChannel()
        let gate = ReadGate()
        try channel.pipeline.syncOperations.addHandlers([try DeflateDecompressor(), gate])
        let gateContext = try channel.pipeline.syncOperations.context(handler: gate)
        try channel.writeInbound(bomb)
        // The socket's read after its read cycle, which the full gate holds.
        channel.read()
        var delivered = 0
        var rounds = 0
        while delivered < total && rounds < 100 {
            var thisRound = 0
            while let chunk = try channel.readInbound(as: ByteBuffer.self) {
                #expect(chunk.readableBytes <= DeflateDecompressor.sliceSize)
                #expect(chunk.readableBytesView.allSatisfy { $0 == 0x41 })
                thisRound += chunk.readableBytes
            }
            #expect(thisRound <= DeflateDecompressor.maxInflatedBytesPerRead)
            delivered += thisRound
            rounds += 1
            // Drained: the held read goes on, and the decompressor serves the next part.
            gate.release(gateContext)
        }
        #expect(delivered == total)
        #expect(rounds >= total / DeflateDecompressor.maxInflatedBytesPerRead)
        _ = try channel.finish()
    }

    @Test func corruptInputClosesTheConnection() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(try DeflateDecompressor())
        #expect {
            try channel.writeInbound(ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x13]))
        } throws: { error in
            (error as? CompressionError)?.code == .corruptInput
        }
        #expect(!channel.isActive)
    }

    @Test func startCompressionSendsTheReplyPlainThenDeflates() async throws {
        let server = try await LoopbackServer.start { _ in
        } handle: { inbound, outbound, channel in
            var lines = LineReader(inbound)
            #expect(try await lines.next() == "a COMPRESS DEFLATE\r\n")
            let boundary = try await ChannelUpgrade.startCompression(
                on: channel,
                sendingFirst: ByteBuffer(string: "a OK DEFLATE active\r\n")
            )
            #expect(try await lines.discard(through: boundary) == 0)
            let command = try await lines.next()
            try await outbound.write(ByteBuffer(string: "* got " + command + "b OK NOOP completed\r\n"))
            await #expect {
                _ = try await ChannelUpgrade.startCompression(on: channel, sendingFirst: ByteBuffer())
            } throws: { error in
                (error as? CompressionError)?.code == .alreadyActive
            }
        }
        let peerDeflater = try PeerDeflater()
        let peerInflater = try PeerInflater()
        let (reply, raw, response) = try await LoopbackClient.run(port: server.port) { client in
            try await client.write("a COMPRESS DEFLATE\r\n")
            let reply = try await client.readLine()
            try await client.write(try peerDeflater.deflate("b NOOP\r\n"))
            var raw = ByteBuffer()
            var response = ""
            while !response.hasSuffix("completed\r\n") {
                var chunk = try await client.readChunk()
                response += try peerInflater.inflate(chunk)
                raw.writeBuffer(&chunk)
            }
            return (reply, raw, response)
        }
        #expect(reply == "a OK DEFLATE active\r\n")
        #expect(response == "* got b NOOP\r\nb OK NOOP completed\r\n")
        #expect(String(buffer: raw) != response, "bytes after the reply are compressed")
        try await server.close()
    }

    /// A burst that inflates to many times ``DeflateDecompressor/maxInflatedBytesPerRead``
    /// through a real `NIOAsyncChannel`: its buffer fills on each delivery and asks for more
    /// only once drained, so every delivery must leave a read pending behind it, as the socket
    /// does after a read. Before that, the session stalled after the second delivery with the
    /// rest unread (seen as a stuck csync replica during 40,000-message bursts).
    @Test(.timeLimit(.minutes(1)))
    func aLargeBurstIsDeliveredWholeThroughBackpressure() async throws {
        let total = 12 * DeflateDecompressor.maxInflatedBytesPerRead
        let server = try await LoopbackServer.start { channel in
            try channel.pipeline.syncOperations.addHandler(try DeflateDecompressor())
        } handle: { inbound, outbound, _ in
            var received = 0
            for try await chunk in inbound {
                received += chunk.readableBytes
                if received >= total { break }
            }
            try await outbound.write(ByteBuffer(string: "received \(received)\r\n"))
        }
        let burst = try deflatedRepeating(0x41, count: total)
        let reply = try await LoopbackClient.run(port: server.port) { client in
            try await client.write(burst)
            return try await client.readLine()
        }
        #expect(reply == "received \(total)\r\n")
        try await server.close()
    }
}
