import NIOCore
import NIOPosix
import NIOSSL

/// Binds a listener for a session protocol (IMAP, POP3): sockets tuned for many mostly idle
/// sessions, implicit TLS when asked, an idle timeout that says `farewell` before closing, and
/// the inbound byte counter that STARTTLS/STLS and COMPRESS rely on.
enum SessionListener {
    static func bind(
        _ address: ListenAddress,
        group: EventLoopGroup,
        tls: NIOSSLContext?,
        implicitTLS: Bool,
        idleTimeout: TimeAmount,
        farewell: String
    ) async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
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
                try channel.pipeline.syncOperations.addHandler(IdleCloser(farewell: farewell))
                try ChannelUpgrade.addInboundByteCounter(to: channel)
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        return try await ListenAddress.bind(address, bootstrap: bootstrap, childChannelInitializer: initializer)
    }
}

/// Why a session listener could not do what a client asked.
enum SessionListenerError: Error {
    /// STARTTLS/STLS without a TLS context.
    case tlsUnavailable
}
