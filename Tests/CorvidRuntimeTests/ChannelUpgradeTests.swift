import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import Testing

@testable import CorvidRuntime

@Suite struct ChannelUpgradeTests {
    @Test func implicitTLSHandshakeTrustsTheGeneratedCertificate() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.config()
        let serverContext = try TLSMaterial.makeServerContext(for: config)
        let certificatePath = try TLSMaterial.identityPaths(for: config).certificate
        let server = try await LoopbackServer.start { channel in
            try ChannelUpgrade.addImplicitTLS(to: channel, context: serverContext)
        } handle: { inbound, outbound, _ in
            var lines = LineReader(inbound)
            let line = try await lines.next()
            try await outbound.write(ByteBuffer(string: "echo " + line))
        }
        let reply = try await LoopbackClient.run(port: server.port) { client in
            try await client.startTLS(trusting: certificatePath, hostname: "localhost")
            try await client.write("hello\r\n")
            return try await client.readLine()
        }
        #expect(reply == "echo hello\r\n")
        try await server.close()
    }

    @Test func startTLSWritesThePlaintextReplyThenHandshakes() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.config()
        let serverContext = try TLSMaterial.makeServerContext(for: config)
        let certificatePath = try TLSMaterial.identityPaths(for: config).certificate
        let server = try await LoopbackServer.start { _ in
        } handle: { inbound, outbound, channel in
            var lines = LineReader(inbound)
            #expect(try await lines.next() == "a STARTTLS\r\n")
            let boundary = try await ChannelUpgrade.startTLS(
                on: channel,
                context: serverContext,
                sendingFirst: ByteBuffer(string: "a OK Begin TLS negotiation now\r\n")
            )
            #expect(boundary == "a STARTTLS\r\n".utf8.count)
            #expect(try await lines.discard(through: boundary) == 0, "nothing was pipelined after STARTTLS")
            #expect(await ChannelUpgrade.isTLSActive(on: channel))
            let command = try await lines.next()
            try await outbound.write(ByteBuffer(string: "* got " + command))
            await #expect(throws: ChannelUpgradeError.tlsAlreadyActive) {
                _ = try await ChannelUpgrade.startTLS(on: channel, context: serverContext, sendingFirst: ByteBuffer())
            }
        }
        let (greeting, reply) = try await LoopbackClient.run(port: server.port) { client in
            try await client.write("a STARTTLS\r\n")
            let greeting = try await client.readLine()
            try await client.startTLS(trusting: certificatePath, hostname: "localhost")
            try await client.write("b NOOP\r\n")
            return (greeting, try await client.readLine())
        }
        #expect(greeting == "a OK Begin TLS negotiation now\r\n")
        #expect(reply == "* got b NOOP\r\n")
        try await server.close()
    }

    /// CVE-2011-0411: a command sent in the clear right after STARTTLS must not run inside TLS,
    /// whether it is still in the session's buffer or already in the async channel's.
    @Test func plaintextSentAfterSTARTTLSIsFencedOff() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.config()
        let serverContext = try TLSMaterial.makeServerContext(for: config)
        let certificatePath = try TLSMaterial.identityPaths(for: config).certificate
        let injected = "x LOGIN victim secret\r\n"
        let server = try await LoopbackServer.start { _ in
        } handle: { inbound, outbound, channel in
            var lines = LineReader(inbound)
            #expect(try await lines.next() == "a STARTTLS\r\n")
            // Let the injected bytes arrive and be read before the upgrade.
            try await Task.sleep(for: .milliseconds(200))
            let boundary = try await ChannelUpgrade.startTLS(
                on: channel,
                context: serverContext,
                sendingFirst: ByteBuffer(string: "a OK Begin TLS negotiation now\r\n")
            )
            #expect(boundary == "a STARTTLS\r\n".utf8.count + injected.utf8.count)
            #expect(try await lines.discard(through: boundary) == injected.utf8.count)
            let command = try await lines.next()
            try await outbound.write(ByteBuffer(string: "* got " + command))
        }
        let reply = try await LoopbackClient.run(port: server.port) { client in
            try await client.write("a STARTTLS\r\n")
            try await client.write(injected)
            #expect(try await client.readLine() == "a OK Begin TLS negotiation now\r\n")
            try await client.startTLS(trusting: certificatePath, hostname: "localhost")
            try await client.write("b NOOP\r\n")
            return try await client.readLine()
        }
        #expect(reply == "* got b NOOP\r\n", "the injected command never reached the TLS session")
        try await server.close()
    }

    @Test func compressionGoesInsideTLS() async throws {
        let directory = try TemporaryDirectory()
        let config = directory.config()
        let serverContext = try TLSMaterial.makeServerContext(for: config)
        let certificatePath = try TLSMaterial.identityPaths(for: config).certificate
        let server = try await LoopbackServer.start { _ in
        } handle: { inbound, outbound, channel in
            var lines = LineReader(inbound)
            _ = try await lines.next()
            var boundary = try await ChannelUpgrade.startTLS(
                on: channel,
                context: serverContext,
                sendingFirst: ByteBuffer(string: "a OK Begin TLS negotiation now\r\n")
            )
            #expect(try await lines.discard(through: boundary) == 0)
            #expect(try await lines.next() == "b COMPRESS DEFLATE\r\n")
            boundary = try await ChannelUpgrade.startCompression(
                on: channel,
                sendingFirst: ByteBuffer(string: "b OK DEFLATE active\r\n")
            )
            #expect(try await lines.discard(through: boundary) == 0)
            for _ in 0..<50 {
                let command = try await lines.next()
                try await outbound.write(ByteBuffer(string: "* got " + command))
            }
        }
        let replies = try await LoopbackClient.run(port: server.port) { client in
            try await client.write("a STARTTLS\r\n")
            _ = try await client.readLine()
            try await client.startTLS(trusting: certificatePath, hostname: "localhost")
            try await client.write("b COMPRESS DEFLATE\r\n")
            #expect(try await client.readLine() == "b OK DEFLATE active\r\n")
            try await client.startCompression()
            var replies: [String] = []
            for index in 0..<50 {
                try await client.write("c\(index) NOOP\r\n")
                replies.append(try await client.readLine())
            }
            return replies
        }
        #expect(replies == (0..<50).map { "* got c\($0) NOOP\r\n" })
        try await server.close()
    }

    @Test func refusedUpgradesWriteNothing() async throws {
        let context = try TLSMaterial.makeServerContext(for: TemporaryDirectory().config())
        let channel = NIOAsyncTestingChannel()
        await #expect(throws: ChannelUpgradeError.byteCounterMissing) {
            _ = try await ChannelUpgrade.startTLS(on: channel, context: context, sendingFirst: ByteBuffer(string: "x"))
        }
        try await channel.eventLoop.submit { try ChannelUpgrade.addInboundByteCounter(to: channel) }.get()
        _ = try await ChannelUpgrade.startCompression(on: channel, sendingFirst: ByteBuffer(string: "a OK\r\n"))
        #expect(try await channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "a OK\r\n"))
        await #expect(throws: ChannelUpgradeError.compressionActive) {
            _ = try await ChannelUpgrade.startTLS(on: channel, context: context, sendingFirst: ByteBuffer(string: "y"))
        }
        #expect(try await channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(await !ChannelUpgrade.isTLSActive(on: channel))
        _ = try await channel.finish()
    }
}
