import Logging
import NIOCore
import NIOPosix
import Replication

/// `corvid sync` and rolling replication over TCP: connects to the replica's csync port and
/// runs a ``SyncClient`` session on the connection (sync-protocol §1.1), TCP_NODELAY and
/// keepalive on as Cyrus's sync_client sets them.
public enum SyncClientChannel {
    /// Connects, runs the session, closes. Connection errors are thrown; refused commands and
    /// failed users are in the report.
    public static func run(
        host: String,
        port: Int,
        client: SyncClient,
        work: SyncClientWork,
        progress: @escaping @Sendable (SyncClientProgress) -> Void
    ) async throws -> SyncClientReport {
        try await Connector(host: host, port: port).withConnection(
            OneShot(client: client, work: work, progress: progress)
        )
    }

    /// Opens TCP connections to one replica (``SyncClientConnector``).
    public struct Connector: SyncClientConnector {
        public let host: String
        public let port: Int
        /// Named limit: how long a connection attempt may take.
        public static var connectTimeout: TimeAmount { .seconds(30) }

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public func withConnection<Body: SyncClientSessionBody>(_ body: Body) async throws -> Body.Result {
            let connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.socketOption(.so_keepalive), value: 1)
                .connectTimeout(Self.connectTimeout)
                .connect(host: host, port: port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await connection.executeThenClose { input, output in
                try await body.run(input: input, transport: Transport(channel: connection.channel, output: output))
            }
        }
    }

    /// `corvid sync`'s one session.
    struct OneShot: SyncClientSessionBody {
        let client: SyncClient
        let work: SyncClientWork
        let progress: @Sendable (SyncClientProgress) -> Void

        func run<Input: AsyncSequence, T: SyncClientTransport>(
            input: Input,
            transport: T
        ) async throws -> SyncClientReport where Input.Element == ByteBuffer {
            try await client.run(input: input, transport: transport, work: work, progress: progress)
        }
    }

    /// Writes through the async channel; COMPRESS puts the DEFLATE pair in front.
    struct Transport: SyncClientTransport {
        let channel: any Channel
        let output: NIOAsyncChannelOutboundWriter<ByteBuffer>

        func write(_ buffer: ByteBuffer) async throws { try await output.write(buffer) }

        var supportsCompression: Bool { true }

        func startCompression() async throws {
            try await ChannelUpgrade.startClientCompression(on: channel)
        }
    }
}
