import Logging
import MailCore
import MailStore
import Synchronization

/// The channels' durable progress, as `sync_ack: replica` needs it: each rolling replicator
/// reports its cursor and failing items here after recording them; LMTP and APPEND wait here
/// until every acknowledging channel has passed what they committed.
///
/// A waiter is satisfied when, for every acknowledging channel, the cursor has reached the
/// feed's newest sequence as it was when the waiter started (so its own change is included)
/// and none of its mailboxes (or their users) is failing on that channel: a quarantined
/// mailbox does not hold up anyone else's mail, but its own deliveries are not acknowledged.
public final class ReplicaAckBoard: ReplicaAcknowledgement, Sendable {
    /// The channels whose replicas must hold a change before it is acknowledged.
    public let channels: Set<String>
    /// `sync_ack_timeout`.
    public let timeout: Duration
    private let store: any MailStore
    private let state = Mutex(State())

    private struct State {
        var cursors: [String: Int64] = [:]
        var failing: [String: Set<ReplicationItem>] = [:]
        var waiters: [Int: Waiter] = [:]
        /// Waiters that timed out before they were registered.
        var abandoned: Set<Int> = []
        var nextID = 0
    }

    private struct Waiter {
        var target: Int64
        var items: Set<ReplicationItem>
        var continuation: CheckedContinuation<Bool, Never>
    }

    public init(store: any MailStore, channels: Set<String>, timeout: Duration) {
        self.store = store
        self.channels = channels
        self.timeout = timeout
    }

    /// A replicator's recorded progress (or, at start, its stored cursor and failed items).
    public func update(channel: String, cursor: Int64?, failed: [ReplicationItem], succeeded: [ReplicationItem]) {
        guard channels.contains(channel) else { return }
        let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            if let cursor { state.cursors[channel] = max(state.cursors[channel] ?? 0, cursor) }
            state.failing[channel, default: []].subtract(succeeded)
            state.failing[channel, default: []].formUnion(failed)
            var ready: [CheckedContinuation<Bool, Never>] = []
            for (id, waiter) in state.waiters where Self.satisfied(waiter, state, channels) {
                ready.append(waiter.continuation)
                state.waiters[id] = nil
            }
            return ready
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    public func waitForReplicas(of mailboxes: [MailboxName]) async -> Bool {
        guard !channels.isEmpty else { return true }
        let target: Int64
        do {
            target = try await store.changeFeedPosition(after: nil).newest
        } catch {
            return false
        }
        var items = Set(mailboxes.map { ReplicationItem(.mailbox, $0.internalName) })
        for owner in mailboxes.compactMap(\.owner) { items.insert(ReplicationItem(.user, owner.name)) }
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            return state.nextID
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { [items] in
                await withCheckedContinuation { continuation in
                    let answer = self.state.withLock { state -> Bool? in
                        if state.abandoned.remove(id) != nil { return false }
                        let waiter = Waiter(target: target, items: items, continuation: continuation)
                        if Self.satisfied(waiter, state, self.channels) { return true }
                        state.waiters[id] = waiter
                        return nil
                    }
                    if let answer { continuation.resume(returning: answer) }
                }
            }
            group.addTask {
                try? await Task.sleep(for: self.timeout)
                return false
            }
            let first = await group.next() ?? false
            if !first {
                // Timed out: take the waiter out (or, not registered yet, mark it abandoned) so
                // its task ends.
                let waiter = state.withLock { state in
                    let waiter = state.waiters.removeValue(forKey: id)
                    if waiter == nil { state.abandoned.insert(id) }
                    return waiter
                }
                waiter?.continuation.resume(returning: false)
            }
            group.cancelAll()
            return first
        }
    }

    private static func satisfied(_ waiter: Waiter, _ state: State, _ channels: Set<String>) -> Bool {
        channels.allSatisfy { channel in
            (state.cursors[channel] ?? -1) >= waiter.target
                && state.failing[channel, default: []].isDisjoint(with: waiter.items)
        }
    }
}
