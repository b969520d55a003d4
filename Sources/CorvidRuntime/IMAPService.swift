import IMAPServer
import Logging
import MailCore
import NIOCore
import NIOPosix
import NIOSSL
import POP3Server
import Replication
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
        let channel = try await SessionListener.bind(
            address,
            group: group,
            tls: tls,
            implicitTLS: implicitTLS,
            idleTimeout: idleTimeout,
            farewell: "* BYE Autologout; idle for too long\r\n"
        )
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
                    let transport = ChannelSessionTransport(channel: client.channel, output: output, tls: self.tls)
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

/// The transport of every session protocol (IMAP, POP3, csync) over a NIO channel: writes,
/// and the STARTTLS/STLS and COMPRESS layer changes of ``ChannelUpgrade``.
struct ChannelSessionTransport: IMAPTransport, POP3Transport, SyncTransport {
    let channel: Channel
    let output: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let tls: NIOSSLContext?

    func write(_ buffer: ByteBuffer) async throws { try await output.write(buffer) }

    func startTLS(after reply: ByteBuffer) async throws -> Int {
        guard let tls else { throw SessionListenerError.tlsUnavailable }
        return try await ChannelUpgrade.startTLS(on: channel, context: tls, sendingFirst: reply)
    }

    func startCompression(after reply: ByteBuffer) async throws -> Int {
        try await ChannelUpgrade.startCompression(on: channel, sendingFirst: reply)
    }
}
