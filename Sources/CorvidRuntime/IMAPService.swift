import IMAPServer
import Logging
import MailCore
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// An IMAP listener (`imap_listen` with STARTTLS, or `imaps_listen` with implicit TLS) as a
/// lifecycle service.
final class IMAPService: Service {
    let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    let connection: IMAPConnection
    let tls: NIOSSLContext?
    let implicitTLS: Bool
    let logger: Logger

    static func bind(
        _ address: ListenAddress,
        group: EventLoopGroup,
        connection: IMAPConnection,
        tls: NIOSSLContext?,
        implicitTLS: Bool,
        idleTimeout: TimeAmount,
        logger: Logger
    ) async throws -> IMAPService {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Sessions mostly sit idle; start reads small and let busy ones grow (to 64 KiB).
            .childChannelOption(
                .recvAllocator,
                value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536)
            )
        let initializer: @Sendable (Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                if implicitTLS, let tls { try ChannelUpgrade.addImplicitTLS(to: channel, context: tls) }
                try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                try channel.pipeline.syncOperations.addHandler(
                    IdleCloser(farewell: "* BYE Autologout; idle for too long\r\n")
                )
                try ChannelUpgrade.addInboundByteCounter(to: channel)
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let channel = try await ListenAddress.bind(address, bootstrap: bootstrap, childChannelInitializer: initializer)
        return IMAPService(channel: channel, connection: connection, tls: tls, implicitTLS: implicitTLS, logger: logger)
    }

    private init(
        channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>,
        connection: IMAPConnection,
        tls: NIOSSLContext?,
        implicitTLS: Bool,
        logger: Logger
    ) {
        self.channel = channel
        self.connection = connection
        self.tls = tls
        self.implicitTLS = implicitTLS
        self.logger = logger
    }

    func run() async throws {
        try await AcceptLoop.run(channel) { client in
            let peer = client.channel.remoteAddress?.ipAddress ?? "local"
            do {
                try await client.executeThenClose { input, output in
                    let transport = ChannelIMAPTransport(channel: client.channel, output: output, tls: self.tls)
                    try await self.connection.run(
                        peer: peer,
                        input: input,
                        transport: transport,
                        tlsActive: self.implicitTLS
                    )
                }
            } catch {
                self.logger.debug("imap connection closed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// ``IMAPTransport`` over a NIO channel.
struct ChannelIMAPTransport: IMAPTransport {
    let channel: Channel
    let output: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let tls: NIOSSLContext?

    func write(_ buffer: ByteBuffer) async throws { try await output.write(buffer) }

    func startTLS(after reply: ByteBuffer) async throws -> Int {
        guard let tls else { throw IMAPServiceError.tlsUnavailable }
        return try await ChannelUpgrade.startTLS(on: channel, context: tls, sendingFirst: reply)
    }

    func startCompression(after reply: ByteBuffer) async throws -> Int {
        try await ChannelUpgrade.startCompression(on: channel, sendingFirst: reply)
    }
}

enum IMAPServiceError: Error {
    case tlsUnavailable
}
