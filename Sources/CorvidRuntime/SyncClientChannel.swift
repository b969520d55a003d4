import Logging
import NIOCore
import NIOPosix
import Replication

/// `corvid sync` over TCP: connects to the replica's csync port and runs a ``SyncClient``
/// session on the connection (sync-protocol §1.1), TCP_NODELAY and keepalive on as Cyrus's
/// sync_client sets them.
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
        let connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .connectTimeout(.seconds(30))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await connection.executeThenClose { input, output in
            let transport = Transport(channel: connection.channel, output: output)
            return try await client.run(input: input, transport: transport, work: work, progress: progress)
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
