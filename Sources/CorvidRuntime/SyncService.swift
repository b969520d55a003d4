import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Replication
import ServiceLifecycle

/// The csync replica listener (`sync_listen`) as a lifecycle service: Cyrus's `sync_server`.
final class SyncService: Service {
    let channel: NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>
    let connection: SyncServerConnection
    let tls: NIOSSLContext?
    let logger: Logger

    init(
        _ address: ListenAddress,
        group: EventLoopGroup,
        connection: SyncServerConnection,
        tls: NIOSSLContext?,
        idleTimeout: TimeAmount,
        logger: Logger
    ) async throws {
        channel = try await SessionListener.bind(
            address,
            group: group,
            tls: tls,
            implicitTLS: false,
            idleTimeout: idleTimeout,
            farewell: "BYE idle for too long\r\n"
        )
        self.connection = connection
        self.tls = tls
        self.logger = logger
    }

    func run() async throws {
        try await AcceptLoop.run(channel) { client in
            let peer = client.channel.remoteAddress?.ipAddress ?? "local"
            do {
                try await client.executeThenClose { input, output in
                    let transport = ChannelSessionTransport(channel: client.channel, output: output, tls: self.tls)
                    try await self.connection.run(peer: peer, input: input, transport: transport, tlsActive: false)
                }
            } catch {
                self.logger.debug("csync connection closed", metadata: ["error": "\(error)"])
            }
        }
    }
}
