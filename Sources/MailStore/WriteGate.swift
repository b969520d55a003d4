import Synchronization

/// Client writes, gated by the store's replication role (issue 6 (c)): LMTP, IMAP and POP3
/// enter before a write and leave after it. Closing the gate refuses new writes at once;
/// ``inFlight`` tells the failover when the last one admitted has finished. Replication's own
/// applies (csync) never pass through it.
public final class WriteGate: Sendable {
    private let state: Mutex<(open: Bool, inFlight: Int)>

    public init(open: Bool = true) {
        state = Mutex((open, 0))
    }

    /// Admits a write (true) or refuses it (false). Every admitted write must ``leave()``.
    public func enter() -> Bool {
        state.withLock { state in
            guard state.open else { return false }
            state.inFlight += 1
            return true
        }
    }

    public func leave() {
        state.withLock { $0.inFlight -= 1 }
    }

    public var isOpen: Bool { state.withLock { $0.open } }
    /// Writes admitted and not finished.
    public var inFlight: Int { state.withLock { $0.inFlight } }

    public func setOpen(_ open: Bool) {
        state.withLock { $0.open = open }
    }

    /// Runs `body` as an admitted write; nil when the gate is closed.
    public func admit<T>(_ body: () async throws -> T) async rethrows -> T? {
        guard enter() else { return nil }
        defer { leave() }
        return try await body()
    }
}
