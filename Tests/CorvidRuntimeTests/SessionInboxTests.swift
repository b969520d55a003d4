import NIOCore
import NIOPosix
import Testing

@testable import CorvidRuntime

/// The IMAP listeners' input path: reads through a SessionInbox, wake-ups as empty chunks.
@Suite struct SessionInboxTests {
    /// Puts the inbox handler where the listener puts it (after the byte counter, before
    /// NIOAsyncChannel's handler) and returns its inbox. The listener adds it before the first
    /// read; here the client waits for "ready" before it sends anything.
    static func attachInbox(to channel: any Channel) async throws -> SessionInbox {
        try await channel.eventLoop.submit {
            let operations = channel.pipeline.syncOperations
            let counter = try operations.handler(type: InboundByteCounter.self)
            let handler = SessionInboxHandler(channel: channel)
            try operations.addHandler(handler, position: .after(counter))
            return handler.inbox
        }.get()
    }

    @Test func inputAndWakeUpsArriveInOrderAndTheEndEndsTheSequence() async throws {
        let server = try await LoopbackServer.start { _ in
        } handle: { _, outbound, channel in
            let inbox = try await Self.attachInbox(to: channel)
            try await outbound.write(ByteBuffer(string: "ready\r\n"))
            let iterator = inbox.makeAsyncIterator()
            var received = ByteBuffer()
            while received.readableBytes < 7, var chunk = await iterator.next() { received.writeBuffer(&chunk) }
            #expect(String(buffer: received) == "hello\r\n")
            ChannelUpgrade.wakeSession(on: channel)
            #expect(await iterator.next()?.readableBytes == 0, "a wake-up is an empty chunk")
            try await outbound.write(ByteBuffer(string: "woken\r\n"))
            #expect(await iterator.next() == nil, "the client closed")
        }
        let reply = try await LoopbackClient.run(port: server.port) { client in
            _ = try await client.readLine()
            try await client.write("hello\r\n")
            return try await client.readLine()
        }
        #expect(reply == "woken\r\n")
        try await server.close()
    }

    @Test func aSlowReaderGetsEveryByteOfALargeInput() async throws {
        let size = 4 * 1024 * 1024
        let server = try await LoopbackServer.start { _ in
        } handle: { _, outbound, channel in
            let inbox = try await Self.attachInbox(to: channel)
            try await outbound.write(ByteBuffer(string: "ready\r\n"))
            var total = 0
            var checksum = 0
            for await chunk in inbox {
                total += chunk.readableBytes
                for byte in chunk.readableBytesView { checksum &+= Int(byte) }
                if total >= size { break }
                if total % 7 == 0 { await Task.yield() }
            }
            try await outbound.write(ByteBuffer(string: "\(total) \(checksum)\r\n"))
        }
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let reply = try await LoopbackClient.run(port: server.port) { client in
            _ = try await client.readLine()
            try await client.write(ByteBuffer(bytes: bytes))
            return try await client.readLine()
        }
        #expect(reply == "\(size) \(bytes.reduce(0) { $0 &+ Int($1) })\r\n")
        try await server.close()
    }

    /// An IMAP session under COMPRESS: a burst that inflates to many deliveries of the
    /// decompressor reaches the inbox whole (each delivery leaves a read for the inbox to
    /// hold; before, the session waited forever after the second).
    @Test(.timeLimit(.minutes(1)))
    func aCompressedBurstArrivesWhole() async throws {
        let total = 10 * DeflateDecompressor.maxInflatedBytesPerRead
        let server = try await LoopbackServer.start { channel in
            try channel.pipeline.syncOperations.addHandler(try DeflateDecompressor(), position: .first)
        } handle: { _, outbound, channel in
            let inbox = try await Self.attachInbox(to: channel)
            try await outbound.write(ByteBuffer(string: "ready\r\n"))
            var received = 0
            for await chunk in inbox {
                received += chunk.readableBytes
                if received >= total { break }
            }
            try await outbound.write(ByteBuffer(string: "received \(received)\r\n"))
        }
        let burst = try deflatedRepeating(0x61, count: total)
        let reply = try await LoopbackClient.run(port: server.port) { client in
            _ = try await client.readLine()
            try await client.write(burst)
            return try await client.readLine()
        }
        #expect(reply == "received \(total)\r\n")
        try await server.close()
    }
}
