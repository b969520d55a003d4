import NIOCore

/// Code that runs over one csync connection: given the replica's bytes and a transport, it
/// runs a session (see ``SyncClientConnector``).
public protocol SyncClientSessionBody {
    associatedtype Result: Sendable
    func run<Input: AsyncSequence, Transport: SyncClientTransport>(
        input: Input,
        transport: Transport
    ) async throws -> Result where Input.Element == ByteBuffer
}

/// Opens connections to one replica: the runtime over TCP, tests in memory. Rolling
/// replication keeps one connection open for many batches and opens another when it breaks.
public protocol SyncClientConnector: Sendable {
    /// Connects, runs `body` on the connection and closes it when `body` returns or throws.
    /// A failure to connect throws before `body` runs.
    func withConnection<Body: SyncClientSessionBody>(_ body: Body) async throws -> Body.Result
}
