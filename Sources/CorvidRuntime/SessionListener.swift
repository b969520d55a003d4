import IMAPServer
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import POP3Server
import Replication
import ServiceLifecycle

/// Binds a listener for a session protocol (IMAP, POP3): sockets tuned for many mostly idle
/// sessions, implicit TLS when asked, an idle timeout that says `farewell` before closing, and
/// the inbound byte counter that STARTTLS/STLS and COMPRESS rely on. With `inbox`, the input
/// is read through a ``SessionInbox`` rather than `NIOAsyncChannel`'s inbound stream.
enum SessionListener {
    /// Named limit: bytes a session's output may queue before it waits for the client.
    static let writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 256 * 1024, high: 1024 * 1024)

    static func bind(
        _ address: ListenAddress,
        group: EventLoopGroup,
        tls: NIOSSLContext?,
        implicitTLS: Bool,
        idleTimeout: TimeAmount,
        farewell: String,
        inbox: Bool = false
    ) async throws -> NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never> {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // A response may queue up to 1 MiB before the session waits for the client to
            // read (NIO's default, 64 KiB, is less than one large message: a body FETCH then
            // paused after every message until the client had read it).
            .childChannelOption(.writeBufferWaterMark, value: Self.writeBufferWaterMark)
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
                if inbox { try channel.pipeline.syncOperations.addHandler(SessionInboxHandler(channel: channel)) }
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

/// A session protocol's listener (IMAP, IMAPS, POP3, POP3S, csync) as a lifecycle service:
/// every accepted connection runs `session` over a ``ChannelSessionTransport``, in its own
/// child task of the ``AcceptLoop``.
final class SessionService: Service {
    typealias Session =
        @Sendable (
            _ peer: String,
            _ input: NIOAsyncChannelInboundStream<ByteBuffer>,
            _ transport: ChannelSessionTransport,
            _ tlsActive: Bool
        ) async throws -> Void

    let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    let tls: NIOSSLContext?
    let implicitTLS: Bool
    let logger: Logger
    let session: Session

    /// Binds the listener (see ``SessionListener/bind``); `farewell` is the line an idle
    /// session gets before it is closed; with `inbox`, sessions read their input from
    /// ``ChannelSessionTransport/inbox()`` (the `input` they are given stays empty).
    init(
        _ address: ListenAddress,
        group: EventLoopGroup,
        tls: NIOSSLContext?,
        implicitTLS: Bool,
        idleTimeout: TimeAmount,
        farewell: String,
        inbox: Bool = false,
        logger: Logger,
        session: @escaping Session
    ) async throws {
        channel = try await SessionListener.bind(
            address,
            group: group,
            tls: tls,
            implicitTLS: implicitTLS,
            idleTimeout: idleTimeout,
            farewell: farewell,
            inbox: inbox
        )
        self.tls = tls
        self.implicitTLS = implicitTLS
        self.logger = logger
        self.session = session
    }

    func run() async throws {
        try await AcceptLoop.run(channel) { client in await self.serve(client) }
    }

    /// Runs one connection's session, then closes it.
    ///
    /// Every async frame from here down to the session's read stays allocated for as long as
    /// the connection is open (10,000 idle sessions hold 10,000 of them), so this frame is kept
    /// small: the logging is out of line.
    private func serve(_ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        let peer = client.channel.remoteAddress?.ipAddress ?? "local"
        do {
            try await client.executeThenClose { input, output in
                let transport = ChannelSessionTransport(channel: client.channel, output: output, tls: self.tls)
                try await self.session(peer, input, transport, self.implicitTLS)
            }
        } catch {
            closed(with: error)
        }
    }

    @inline(never)
    private func closed(with error: any Error) {
        logger.debug("connection closed", metadata: ["error": "\(error)"])
    }
}

/// The transport of every session protocol (IMAP, POP3, csync) over a NIO channel: writes,
/// and the STARTTLS/STLS and COMPRESS layer changes of ``ChannelUpgrade``.
struct ChannelSessionTransport: IMAPTransport, POP3Transport, SyncTransport {
    let channel: Channel
    let output: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let tls: NIOSSLContext?

    func write(_ buffer: ByteBuffer) async throws { try await output.write(buffer) }

    func write(contentsOf buffers: [ByteBuffer]) async throws { try await output.write(contentsOf: buffers) }

    func startTLS(after reply: ByteBuffer) async throws -> Int {
        guard let tls else { throw SessionListenerError.tlsUnavailable }
        return try await ChannelUpgrade.startTLS(on: channel, context: tls, sendingFirst: reply)
    }

    func startCompression(after reply: ByteBuffer) async throws -> Int {
        try await ChannelUpgrade.startCompression(on: channel, sendingFirst: reply)
    }

    func wake() { ChannelUpgrade.wakeSession(on: channel) }

    /// The connection's ``SessionInbox`` (listeners bound with `inbox`).
    func inbox() async throws -> SessionInbox {
        try await channel.pipeline.handler(type: SessionInboxHandler.self).map(\.inbox).get()
    }
}
