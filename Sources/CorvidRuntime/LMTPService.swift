import LMTPServer
import Logging
import MailCore
import MailStore
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The LMTP listener as a lifecycle service.
///
/// Each accepted connection runs an ``LMTPConnection`` through ``AcceptLoop``. On graceful
/// shutdown a delivery in flight finishes and is answered; an unfinished DATA is dropped
/// unacknowledged.
final class LMTPService: Service {
    let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    let connection: LMTPConnection
    let idleTimeout: TimeAmount
    let logger: Logger

    static func bind(
        _ address: ListenAddress,
        group: EventLoopGroup,
        connection: LMTPConnection,
        idleTimeout: TimeAmount,
        logger: Logger
    ) async throws -> LMTPService {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let initializer: @Sendable (Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                try channel.pipeline.syncOperations.addHandler(
                    IdleCloser(farewell: "421 4.4.2 Idle timeout, closing connection\r\n")
                )
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let channel = try await ListenAddress.bind(address, bootstrap: bootstrap, childChannelInitializer: initializer)
        return LMTPService(channel: channel, connection: connection, idleTimeout: idleTimeout, logger: logger)
    }

    private init(
        channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>,
        connection: LMTPConnection,
        idleTimeout: TimeAmount,
        logger: Logger
    ) {
        self.channel = channel
        self.connection = connection
        self.idleTimeout = idleTimeout
        self.logger = logger
    }

    var localAddress: String { channel.channel.localAddress?.description ?? "?" }

    func run() async throws {
        try await AcceptLoop.run(channel) { client in
            let peer = LMTPConnection.Peer(address: client.channel.remoteAddress?.ipAddress ?? "local")
            do {
                try await client.executeThenClose { input, output in
                    try await self.connection.run(peer: peer, input: input) { try await output.write($0) }
                }
            } catch {
                self.logger.debug("lmtp connection closed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Closes a connection that stayed silent past its read timeout, saying why in the protocol's
/// own words (`421 4.4.2 …` for LMTP, `* BYE Autologout…` for IMAP).
final class IdleCloser: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let farewell: String

    init(farewell: String) { self.farewell = farewell }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let idle = event as? IdleStateHandler.IdleStateEvent, idle == .read {
            var bye = context.channel.allocator.buffer(capacity: 64)
            bye.writeString(farewell)
            context.writeAndFlush(NIOAny(bye), promise: nil)
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
