import Logging
import NIOCore
import NIOPosix
import NIOSSL
import POP3Server
import ServiceLifecycle

/// A POP3 listener (`pop3_listen` with STLS, or `pop3s_listen` with implicit TLS) as a
/// lifecycle service.
final class POP3Service: Service {
    let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    let connection: POP3Connection
    let tls: NIOSSLContext?
    let implicitTLS: Bool
    let logger: Logger

    init(
        _ address: ListenAddress,
        group: EventLoopGroup,
        connection: POP3Connection,
        tls: NIOSSLContext?,
        implicitTLS: Bool,
        idleTimeout: TimeAmount,
        logger: Logger
    ) async throws {
        // RFC 1939 §3: an idle session is closed without entering UPDATE (nothing deleted).
        channel = try await SessionListener.bind(
            address,
            group: group,
            tls: tls,
            implicitTLS: implicitTLS,
            idleTimeout: idleTimeout,
            farewell: "-ERR [SYS/TEMP] Autologout; idle for too long\r\n"
        )
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
                self.logger.debug("pop3 connection closed", metadata: ["error": "\(error)"])
            }
        }
    }
}
