import Logging
import MailCore
import MailStore
import ServiceLifecycle
import Synchronization

/// Follows the store's replication role (set by `corvid failover`, `corvid promote`, or a
/// master's `X-CORVID-PROMOTE`) for `corvid serve`: opens or closes the client write gate, and
/// when a failover starts draining, waits for the writes in flight and records how far the
/// feed got (`closedThrough`), which the failover then waits for every channel to reach.
struct ReplicationRoleService: Service {
    let store: any MailStore
    let gate: WriteGate
    /// Where the rolling service reads the role this service last saw (one reader of the store).
    let current: CurrentRole
    let logger: Logger
    /// Named limit: how often the role is re-read (the CLI changes it from another process).
    static var pollInterval: Duration { .milliseconds(100) }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var last: ReplicationRole.State?
            while !Task.isCancelled {
                await follow(&last)
                try? await Task.sleep(for: Self.pollInterval)
            }
        }
    }

    private func follow(_ last: inout ReplicationRole.State?) async {
        guard let role = try? await store.replicationRole() else { return }
        current.set(role.state)
        let open = ReplicationRole.acceptsWrites(role)
        if gate.isOpen != open {
            gate.setOpen(open)
            logger.warning(
                open ? "client writes accepted again" : "client writes refused",
                metadata: ["role": "\(role.state.rawValue)", "epoch": "\(role.epoch)", "note": "\(role.note)"]
            )
        }
        last = role.state
        var closedThrough: Int64?
        if role.state == .draining, role.closedThrough == nil {
            // Every admitted write has finished (each is bounded by its own limits).
            while gate.inFlight > 0 && !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
            guard let position = try? await store.changeFeedPosition(after: nil) else { return }
            closedThrough = position.newest
            logger.warning("failover: client writes stopped", metadata: ["through": "\(position.newest)"])
        }
        guard role.servedState != role.state || closedThrough != nil else { return }
        try? await store.markReplicationRoleServed(state: role.state, epoch: role.epoch, closedThrough: closedThrough)
    }
}

/// The role's state as ``ReplicationRoleService`` last read it (nil: no role set).
final class CurrentRole: Sendable {
    private let state: Mutex<ReplicationRole.State?>

    init(_ initial: ReplicationRole.State?) { state = Mutex(initial) }

    var value: ReplicationRole.State? { state.withLock { $0 } }
    func set(_ value: ReplicationRole.State?) { state.withLock { $0 = value } }
}
