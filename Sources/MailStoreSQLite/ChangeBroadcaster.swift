import MailStore
import Synchronization

/// Fans committed change events out to in-process subscribers (IDLE sessions, the replication
/// log). Events arrive only after their transaction committed.
final class ChangeBroadcaster: Sendable {
    private let sinks = Mutex<[Int: AsyncStream<ChangeEvent>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    /// Named limit: events buffered per slow subscriber before the oldest are dropped; a
    /// subscriber that falls that far behind re-reads the durable feed (`changes(after:)`).
    static let bufferLimit = 10_000

    func subscribe() -> AsyncStream<ChangeEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream<ChangeEvent>.makeStream(
            bufferingPolicy: .bufferingNewest(Self.bufferLimit)
        )
        sinks.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.sinks.withLock { $0.removeValue(forKey: id) }
        }
        return stream
    }

    func publish(_ events: [ChangeEvent]) {
        guard !events.isEmpty else { return }
        let targets = sinks.withLock { Array($0.values) }
        for sink in targets { for event in events { sink.yield(event) } }
    }
}
