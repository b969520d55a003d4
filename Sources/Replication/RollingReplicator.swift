import Logging
import MailCore
import MailStore
import NIOCore
import SyncCodec

/// One rolling-replication channel (`sync_log: 1`): follows the store's change feed and
/// replicates each batch to the replica over one long-lived csync session, forever.
///
/// The thin async driver of ``RollingReplicationStateMachine``: it performs each action (the
/// store, the connection, the clock, logs and metrics live here) and feeds the result back.
/// In-process commits wake it at once (``MailStore/changeNotifications()``); changes made by
/// other processes are seen within ``RollingReplicationSettings/repeatInterval``.
public struct RollingReplicator: Sendable {
    let settings: RollingReplicationSettings
    let store: any MailStore
    let client: SyncClient
    let connector: any SyncClientConnector
    let clock: @Sendable () -> UnixTime
    /// Where `sync_ack: replica` waiters learn this channel's durable progress.
    let ackBoard: ReplicaAckBoard?

    public init(
        settings: RollingReplicationSettings,
        store: any MailStore,
        client: SyncClient,
        connector: any SyncClientConnector,
        clock: @escaping @Sendable () -> UnixTime,
        ackBoard: ReplicaAckBoard? = nil
    ) {
        self.settings = settings
        self.store = store
        self.client = client
        self.connector = connector
        self.clock = clock
        self.ackBoard = ackBoard
    }

    /// Replicates until the task is cancelled.
    public func run() async {
        let signal = ChangeSignal()
        let notifications = store.changeNotifications()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in notifications { signal.signal() }
            }
            let driver = RollingReplicatorDriver(replicator: self, signal: signal)
            await driver.run()
            group.cancelAll()
        }
    }
}

/// The driver's state; confined to the task running ``RollingReplicator/run()``.
final class RollingReplicatorDriver {
    typealias Action = RollingReplicationStateMachine.Action

    let replicator: RollingReplicator
    let signal: ChangeSignal
    var machine: RollingReplicationStateMachine
    let metrics: RollingReplicationMetrics
    var logger: Logger
    /// Logged once per outage, not on every attempt.
    var connectFailures = 0

    var store: any MailStore { replicator.store }
    var channel: String { replicator.settings.channel }
    func now() -> UnixTime { replicator.clock() }

    init(replicator: RollingReplicator, signal: ChangeSignal) {
        self.replicator = replicator
        self.signal = signal
        machine = RollingReplicationStateMachine(settings: replicator.settings)
        metrics = RollingReplicationMetrics(channel: replicator.settings.channel)
        logger = replicator.client.logger
        logger[metadataKey: "channel"] = "\(replicator.settings.channel)"
    }

    func run() async {
        var action = machine.start(now: now())
        while !Task.isCancelled {
            if case .connect = action {
                action = await connectAndServe()
            } else {
                action = await perform(action)
            }
        }
    }

    /// Opens a session and performs actions on it until it breaks (or shutdown).
    private func connectAndServe() async -> Action {
        do {
            let action = try await replicator.connector.withConnection(Session(driver: self))
            return action
        } catch {
            connectFailures += 1
            metrics.failed("connect")
            if connectFailures == 1 {
                logger.warning(
                    "csync: cannot reach the replica; retrying with backoff",
                    metadata: ["error": "\(error)"]
                )
            } else {
                logger.debug("csync: connection attempt failed", metadata: ["error": "\(error)"])
            }
            return machine.connectionFailed(now: now())
        }
    }

    /// Conflicts the runner settled by keeping both sides go to the store, for `sync status`
    /// (they are also logged and counted where they were decided).
    func recordConflicts<Input, Transport>(_ runner: SyncClientRunner<Input, Transport>) async {
        guard !runner.conflicts.isEmpty else { return }
        let time = now()
        let conflicts = runner.conflicts.map { ReplicationConflict(channel: channel, time: time, text: $0) }
        runner.conflicts = []
        do {
            try await replicator.store.recordReplicationConflicts(conflicts)
        } catch {
            logger.error("csync: could not record conflicts", metadata: ["error": "\(error)"])
        }
    }

    /// The actions that need no session.
    func perform(_ action: Action) async -> Action {
        switch action {
        case .loadState:
            do {
                let cursor = try await store.replicationCursor(channel)
                let feed = try await store.changeFeedPosition(after: cursor?.sequence ?? 0)
                let failures = try await store.replicationFailures(channel: channel)
                metrics.update(feed: feed, cursor: cursor?.sequence ?? 0, now: now())
                metrics.update(failures: failures)
                if let lastSuccess = cursor?.lastSuccess { metrics.lastSuccess.record(lastSuccess) }
                let next = machine.stateLoaded(cursor: cursor, feed: feed, failures: failures, now: now())
                replicator.ackBoard?.update(
                    channel: channel,
                    cursor: cursor?.sequence,
                    failed: failures.map(\.item),
                    succeeded: []
                )
                if machine.needsFullSync {
                    logger.notice(
                        "csync: full sync first (a new channel, one behind the pruned feed, or after an unclean shutdown)",
                        metadata: ["cursor": "\(cursor.map { "\($0.sequence)" } ?? "none")"]
                    )
                }
                return next
            } catch {
                return storeFailed(error)
            }
        case .loadFailures:
            do {
                let failures = try await store.replicationFailures(channel: channel)
                let cursor = machine.cursor ?? 0
                metrics.update(feed: try await store.changeFeedPosition(after: cursor), cursor: cursor, now: now())
                metrics.update(failures: failures)
                return machine.failuresLoaded(failures, now: now())
            } catch {
                return storeFailed(error)
            }
        case .wait(let until, let wakeOnChange):
            let seconds = until - now()
            if wakeOnChange {
                await signal.wait(atMost: seconds)
            } else if seconds > 0 {
                try? await Task.sleep(for: .milliseconds(Int64((seconds * 1000).rounded(.up))))
            }
            return machine.waited(now: now())
        case .readChanges(let after, let limit):
            do {
                let events = try await store.changes(after: after, limit: limit)
                if events.isEmpty {
                    metrics.backlog.record(0)
                    metrics.lag.record(0)
                } else if let first = events.first {
                    metrics.lag.record(max(0, now() - first.time))
                }
                return machine.changesRead(events, now: now())
            } catch {
                return storeFailed(error)
            }
        case .record(let progress):
            do {
                try await store.recordReplicationProgress(progress)
            } catch {
                return storeFailed(error)
            }
            if progress.cursor != nil { metrics.lastSuccess.record(progress.time) }
            replicator.ackBoard?.update(
                channel: channel,
                cursor: progress.cursor,
                failed: progress.failed.map(\.item),
                succeeded: progress.succeeded
            )
            for failure in progress.failed {
                metrics.failed(failure.reason.prefix { $0 != ":" }.description)
                if failure.quarantined && failure.failures == replicator.settings.failuresBeforeQuarantine {
                    logger.error(
                        "csync: item quarantined after repeated failures",
                        metadata: [
                            "item": "\(failure.item)", "failures": "\(failure.failures)", "reason": "\(failure.reason)",
                        ]
                    )
                } else {
                    logger.warning(
                        "csync: item failed; will retry",
                        metadata: [
                            "item": "\(failure.item)", "failures": "\(failure.failures)", "reason": "\(failure.reason)",
                        ]
                    )
                }
            }
            for item in progress.succeeded { logger.notice("csync: item recovered", metadata: ["item": "\(item)"]) }
            let next = machine.recorded(now: now())
            metrics.update(failures: machine.failedItems)
            return next
        case .connect, .replicate, .fullSync:
            // Work that needs the session, asked for outside one: connect again.
            return machine.connectionLost(now: now())
        }
    }

    func storeFailed(_ error: any Error) -> Action {
        metrics.failed("storeFailure")
        logger.error("csync: store failed; retrying", metadata: ["error": "\(error)"])
        return machine.storeFailed(now: now())
    }

    /// The session's loop: the actions that need the replica run on it, the others as outside.
    struct Session: SyncClientSessionBody {
        let driver: RollingReplicatorDriver

        func run<Input: AsyncSequence, Transport: SyncClientTransport>(
            input: Input,
            transport: Transport
        ) async throws -> Action where Input.Element == ByteBuffer {
            let connection = SyncClientConnection(input: input, transport: transport)
            let runner = SyncClientRunner(client: driver.replicator.client, connection: connection) { _ in }
            try await runner.start()
            if driver.connectFailures > 0 {
                driver.logger.notice(
                    "csync: connected to the replica again",
                    metadata: ["attempts": "\(driver.connectFailures)"]
                )
            }
            driver.connectFailures = 0
            var action = driver.machine.connected(now: driver.now())
            while !Task.isCancelled {
                switch action {
                case .connect:
                    return action
                case .replicate(let work, _):
                    do {
                        let outcome = try await runner.perform(work)
                        await driver.recordConflicts(runner)
                        action = driver.machine.replicated(outcome, now: driver.now())
                    } catch {
                        await driver.recordConflicts(runner)
                        return lost(error)
                    }
                case .fullSync:
                    do {
                        let outcome = try await runner.performFullSync()
                        await driver.recordConflicts(runner)
                        driver.logger.notice(
                            "csync: full sync finished",
                            metadata: ["items": "\(outcome.attempted.count)", "failed": "\(outcome.failed.count)"]
                        )
                        action = driver.machine.replicated(outcome, now: driver.now())
                    } catch {
                        return lost(error)
                    }
                default:
                    action = await driver.perform(action)
                }
            }
            _ = try? await connection.send(.exit)
            return action
        }

        private func lost(_ error: any Error) -> Action {
            if Task.isCancelled {
                // Shutdown interrupted the batch: it is done again at the next start.
                driver.logger.debug("csync: batch interrupted by shutdown", metadata: ["error": "\(error)"])
            } else {
                let code = (error as? SyncClientError)?.code.rawValue ?? "connectionClosed"
                driver.metrics.failed(code)
                driver.logger.warning(
                    "csync: session lost; the batch will be done again",
                    metadata: ["error": "\(error)"]
                )
            }
            return driver.machine.connectionLost(now: driver.now())
        }
    }
}
