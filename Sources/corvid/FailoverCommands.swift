import ArgumentParser
import CorvidRuntime
import Logging
import MailCore
import MailStore
import MailStoreSQLite
import Replication

/// `corvid failover`: the soft failover of issue 6 (c), run on the master while it serves.
///
/// 1. The role becomes `draining`: the serving process refuses client writes from then on
///    (LMTP 451 4.3.2, IMAP NO [UNAVAILABLE], POP3 deletions) and records, once no admitted
///    write is still running, how far the change feed got.
/// 2. Every channel must replicate through that point with nothing failing or quarantined.
/// 3. The target replica is compared with this store (as `check --replica`): no difference.
/// 4. The replica is promoted (`APPLY X-CORVID-PROMOTE`, a Corvid extension its banner must
///    offer) and this store becomes a fenced replica, durably: it takes no client writes, even
///    after a restart, until it is promoted again; the new master replicates into it.
///
/// If a step cannot be proven, the failover is refused with what would be lost, and this
/// server takes writes again.
struct Failover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move the master role to a replica: stop writes, drain and verify, promote it, fence this server.",
        discussion: """
            Run on the master while `corvid serve` runs. The channel defaults to the one sync_host \
            configures. Exit status 0 when the replica is the master; otherwise nothing changed \
            and this server takes writes again.
            """
    )
    @OptionGroup var options: ConfigOptions
    @Argument(help: "The channel whose replica becomes the master") var channel: String?
    @Option(help: "Seconds to wait for the channels to drain") var timeout: Double = 60

    func run() async throws {
        let (config, store) = try options.openStore()
        let name = channel ?? SyncChannelConfig.defaultName
        guard let target = config.syncChannels.first(where: { $0.name == name }) else {
            throw CLIError("no channel \(name): set sync_host (or \(name)_sync_host)")
        }
        if (try? ServeLock(configDirectory: config.configDirectory)) != nil {
            throw CLIError("corvid serve is not running here: failover needs the running master (its channels drain)")
        }
        let role = try await store.replicationRole()
        guard ReplicationRole.acceptsWrites(role) else {
            throw CLIError("this server is not the master (role \(role!.state.rawValue), epoch \(role!.epoch))")
        }
        let epoch = (role?.epoch ?? 0) + 1
        let now = { SQLiteMailStore.systemTime() }
        try await store.setReplicationRole(
            ReplicationRole(state: .draining, epoch: epoch, since: now(), note: "failing over to \(target.host)")
        )
        print("failover: client writes stopped (epoch \(epoch)); draining \(config.syncChannels.count) channel(s)")
        do {
            let through = try await waitForWritesStopped(store)
            try await waitForDrain(store, channels: config.syncChannels.map(\.name), through: through)
            print("failover: every channel has replicated through change \(through)")
            try await verifyAndPromote(store, config: config, target: target, epoch: epoch)
        } catch {
            try await store.setReplicationRole(
                ReplicationRole(state: .master, epoch: epoch, since: now(), note: "failover refused")
            )
            let served = try await awaitServed(store, .master, epoch: epoch)
            print(
                "failover refused; this server is the master again"
                    + (served ? " and takes writes" : " (the serving process has not confirmed yet)")
            )
            throw error
        }
        try await store.setReplicationRole(
            ReplicationRole(
                state: .replica,
                epoch: epoch,
                since: now(),
                note: "failed over to \(target.host):\(target.port)"
            )
        )
        _ = try await awaitServed(store, .replica, epoch: epoch)
        print(
            "failover: \(target.host):\(target.port) is the master (epoch \(epoch)); this server is a fenced replica "
                + "of it and takes no client writes until promoted"
        )
    }

    /// Waits for the serving process to record where the feed stood once no write was running.
    private func waitForWritesStopped(_ store: SQLiteMailStore) async throws -> Int64 {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let through = try await store.replicationRole()?.closedThrough { return through }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLIError("the serving process did not confirm that client writes stopped (is it running this store?)")
    }

    /// Every channel through `through`, with nothing failing; else what is missing, per channel.
    private func waitForDrain(_ store: SQLiteMailStore, channels: [String], through: Int64) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
        var missing: [String] = []
        repeat {
            missing = []
            for name in channels {
                let cursor = try await store.replicationCursor(name)?.sequence ?? 0
                let failing = try await store.replicationFailures(channel: name)
                if cursor < through {
                    let pending = try await store.changes(after: cursor, limit: 10_000).filter {
                        $0.sequence <= through
                    }
                    let mailboxes = Set(pending.compactMap(\.mailbox)).sorted()
                    missing.append(
                        "channel \(name): \(through - cursor) change(s) not on its replica, in "
                            + mailboxes.prefix(20).joined(separator: ", ")
                            + (mailboxes.count > 20 ? " and \(mailboxes.count - 20) more" : "")
                    )
                }
                for failure in failing {
                    missing.append("channel \(name): \(failure.item) is failing: \(failure.reason)")
                }
            }
            if missing.isEmpty { return }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        throw CLIError(
            "the replicas are not caught up; a failover now would lose:\n  " + missing.joined(separator: "\n  ")
        )
    }

    private func verifyAndPromote(
        _ store: SQLiteMailStore,
        config: CorvidConfig,
        target: SyncChannelConfig,
        epoch: Int64
    ) async throws {
        let client = SyncClient(
            store: store,
            configuration: SyncClientConfiguration(authName: target.authName, password: target.password ?? ""),
            logger: Logger(label: "corvid.failover")
        )
        let users = try await store.users().map(\.name)
        let shared = try await store.mailboxes(under: nil).map(\.name).filter { $0.owner == nil }
        let check = try await SyncClientChannel.run(
            host: target.host,
            port: target.port,
            client: client,
            work: .check(users: users, sharedMailboxes: shared, repair: false)
        ) { _ in }
        guard check.failures.isEmpty, check.differences.isEmpty else {
            let lines = check.differences.map(\.description) + check.failures.map { "\($0.name): \($0.reason)" }
            throw CLIError(
                "the replica differs from this store; a failover now would lose:\n  "
                    + lines.prefix(50).joined(separator: "\n  ")
            )
        }
        print("failover: \(target.host):\(target.port) verified equal (\(users.count) users, \(shared.count) shared)")
        let promotion = try await SyncClientChannel.run(
            host: target.host,
            port: target.port,
            client: client,
            work: .promote(epoch: epoch, from: config.serverName)
        ) { _ in }
        guard promotion.failures.isEmpty else {
            throw CLIError(
                "the replica refused the promotion: \(promotion.failures.map(\.reason).joined(separator: "; "))"
            )
        }
    }
}

/// Waits (bounded) until a running server has put the role into effect; false if none did.
func awaitServed(_ store: SQLiteMailStore, _ state: ReplicationRole.State, epoch: Int64) async throws -> Bool {
    let deadline = ContinuousClock.now + .seconds(10)
    while ContinuousClock.now < deadline {
        if let role = try await store.replicationRole(), role.epoch == epoch, role.servedState == state { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return false
}

/// `corvid promote`: makes this store the master by hand (a hard failover, when the master is
/// gone and cannot run `corvid failover`). Client writes are accepted at once by a running
/// server; rolling replication to its channels starts.
struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make this server the master (after the old master was lost); it takes writes at once.",
        discussion: """
            The old master, when it comes back, must not take writes: give it this server as its \
            replica target and run `corvid failover` there only after `corvid check --replica` \
            agrees, or keep it fenced (its role stays replica while this one is master).
            """
    )
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let (_, store) = try options.openStore()
        let role = try await store.replicationRole()
        if ReplicationRole.acceptsWrites(role) && role != nil {
            print("this server is already the master (epoch \(role!.epoch))")
            return
        }
        let epoch = (role?.epoch ?? 0) + 1
        try await store.setReplicationRole(
            ReplicationRole(state: .master, epoch: epoch, since: SQLiteMailStore.systemTime(), note: "promoted by hand")
        )
        print("this server is the master now (epoch \(epoch)); a running server takes writes within 0.1 s")
    }
}

/// `corvid fence`: makes this store a fenced replica by hand — the first step when an old
/// master comes back after a hard failover (before `corvid serve`, so it never takes a write),
/// or to set up the standby of a pair that `corvid failover` will switch.
struct Fence: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make this server a fenced replica: no client writes, no rolling replication, until promoted."
    )
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let (_, store) = try options.openStore()
        let role = try await store.replicationRole()
        try await store.setReplicationRole(
            ReplicationRole(
                state: .replica,
                epoch: role?.epoch ?? 0,
                since: SQLiteMailStore.systemTime(),
                note: "fenced by hand"
            )
        )
        print("this server is a fenced replica now (epoch \(role?.epoch ?? 0)): it takes no client writes")
    }
}
