import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The accept loop every listener runs until graceful shutdown.
///
/// Each connection runs in its own child task of a discarding task group, so one bad
/// connection cannot hurt the others. On graceful shutdown the listening socket closes first,
/// then open connections have their input closed: a request in flight finishes and is answered,
/// and nothing new is read.
enum AcceptLoop {
    static func run<Inbound: Sendable, Outbound: Sendable>(
        _ listener: NIOAsyncChannel<NIOAsyncChannel<Inbound, Outbound>, Never>,
        handle: @escaping @Sendable (NIOAsyncChannel<Inbound, Outbound>) async throws -> Void
    ) async throws {
        let serverChannel = listener.channel
        let open = OpenChannels()
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await listener.executeThenClose { inbound in
                    for try await client in inbound {
                        group.addTask {
                            let id = open.insert(client.channel)
                            defer { open.remove(id) }
                            try? await handle(client)
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            serverChannel.close(promise: nil)
            open.closeAllInputs()
        }
    }
}

/// Channels of open connections, so shutdown can reach them.
final class OpenChannels: Sendable {
    private let channels = Mutex<[Int: Channel]>([:])
    private let next = Atomic<Int>(0)

    func insert(_ channel: Channel) -> Int {
        let id = next.add(1, ordering: .relaxed).newValue
        channels.withLock { $0[id] = channel }
        return id
    }

    func remove(_ id: Int) { _ = channels.withLock { $0.removeValue(forKey: id) } }

    func closeAllInputs() {
        for channel in channels.withLock({ Array($0.values) }) {
            channel.close(mode: .input).whenFailure { _ in channel.close(promise: nil) }
        }
    }
}

extension ListenAddress {
    /// Binds a server bootstrap to a TCP address or a UNIX socket path (replacing a stale
    /// socket file), with each accepted connection wrapped by `childChannelInitializer`.
    static func bind<Output: Sendable>(
        _ address: ListenAddress,
        bootstrap: ServerBootstrap,
        childChannelInitializer: @escaping @Sendable (Channel) -> EventLoopFuture<Output>
    ) async throws -> NIOAsyncChannel<Output, Never> {
        switch address {
        case .tcp(let host, let port):
            try await bootstrap.bind(host: host, port: port, childChannelInitializer: childChannelInitializer)
        case .unix(let path):
            try await bootstrap.bind(
                unixDomainSocketPath: path,
                cleanupExistingSocketFile: true,
                childChannelInitializer: childChannelInitializer
            )
        }
    }
}
