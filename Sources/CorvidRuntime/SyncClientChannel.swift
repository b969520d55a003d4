import Logging
import NIOCore
import NIOPosix
import Replication
import Synchronization

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
        replyTimeout: TimeAmount? = nil,
        progress: @escaping @Sendable (SyncClientProgress) -> Void
    ) async throws -> SyncClientReport {
        try await Connector(host: host, port: port, replyTimeout: replyTimeout).withConnection(
            OneShot(client: client, work: work, progress: progress)
        )
    }

    /// Opens TCP connections to one replica (``SyncClientConnector``).
    public struct Connector: SyncClientConnector {
        public let host: String
        public let port: Int
        /// `sync_timeout`: the longest the session may wait on the replica (for its banner, a
        /// reply, or a write it does not take) before the connection fails with
        /// ``SyncClientError/Code/timedOut``; nil waits forever.
        public let replyTimeout: TimeAmount?
        /// Named limit: how long a connection attempt may take.
        public static var connectTimeout: TimeAmount { .seconds(30) }

        public init(host: String, port: Int, replyTimeout: TimeAmount? = nil) {
            self.host = host
            self.port = port
            self.replyTimeout = replyTimeout
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
            let watch = replyTimeout.map { ReplicaWatch(channel: connection.channel, timeout: $0) }
            defer { watch?.stop() }
            return try await connection.executeThenClose { input, output in
                try await body.run(
                    input: input,
                    transport: Transport(channel: connection.channel, output: output, watch: watch)
                )
            }
        }
    }

    /// `sync_timeout` on the master's side: while the session waits on the replica, a check
    /// on the channel's event loop fails the connection once the wait has lasted `timeout`
    /// (the input then throws ``SyncClientError/Code/timedOut`` and the channel closes, which
    /// also ends a write the replica does not take).
    final class ReplicaWatch: Sendable {
        let channel: any Channel
        let timeout: TimeAmount
        /// Since when the session has been waiting (nil while it is not), and the error the
        /// connection was failed with, if it was.
        private let state = Mutex<(since: NIODeadline?, fired: SyncClientError?)>((nil, nil))
        private let task = Mutex<RepeatedTask?>(nil)

        init(channel: any Channel, timeout: TimeAmount) {
            self.channel = channel
            self.timeout = timeout
            // Checked ten times per timeout, between every 50 ms and every second.
            let interval = TimeAmount.nanoseconds(min(1_000_000_000, max(50_000_000, timeout.nanoseconds / 10)))
            let repeated = channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) {
                [weak self] _ in self?.check()
            }
            task.withLock { $0 = repeated }
        }

        /// The error the connection was failed with, if it was.
        var fired: SyncClientError? { state.withLock { $0.fired } }

        func waiting(_ waiting: Bool) {
            state.withLock { $0.since = waiting ? ($0.since ?? .now()) : nil }
        }

        /// On the event loop: fails the connection if the current wait has lasted too long.
        private func check() {
            let error: SyncClientError? = state.withLock { state in
                guard let since = state.since, state.fired == nil, NIODeadline.now() - since >= timeout else {
                    return nil
                }
                let seconds = Double(timeout.nanoseconds) / 1e9
                state.fired = SyncClientError(.timedOut, "no answer from the replica for \(seconds)s (sync_timeout)")
                return state.fired
            }
            guard let error else { return }
            channel.pipeline.fireErrorCaught(error)
            channel.close(promise: nil)
        }

        func stop() {
            task.withLock { $0?.cancel() }
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
        var watch: ReplicaWatch? = nil

        func write(_ buffer: ByteBuffer) async throws {
            // A write the replica does not take (a stalled link) is a wait on it too.
            watch?.waiting(true)
            defer { watch?.waiting(false) }
            do {
                try await output.write(buffer)
            } catch {
                if let fired = watch?.fired { throw fired }
                throw SyncClientError(.connectionClosed, "writing to the replica: \(error)")
            }
        }

        func waitingForReplica(_ waiting: Bool) { watch?.waiting(waiting) }

        var supportsCompression: Bool { true }

        func startCompression() async throws {
            try await ChannelUpgrade.startClientCompression(on: channel)
        }
    }
}
