import MailCore
import MailStore

/// One rolling-replication channel's decisions (sync-protocol §6.3, with the change feed as
/// the log): when to connect, read the feed, replicate, retry failed items, commit the cursor
/// and wait. No I/O and no clock: the driver (``RollingReplicator``) performs each action and
/// reports its result as the next event, with the time.
///
/// ```
/// loadState → connect → [fullSync]? → readChanges → replicate → record → readChanges → …
///                                          └─ nothing new → wait (woken by a change) ─┘
/// ```
///
/// - The cursor moves only in ``Action/record(_:)``, after a batch's every item either
///   succeeded or was recorded as failed, so a crash or a lost connection repeats the batch
///   (the protocol is idempotent) and never skips it.
/// - A channel with no cursor (new) or whose cursor is below what pruning removed syncs
///   everything first, then follows the feed from where it stood before that sync.
/// - Connection failures back off from ``RollingReplicationSettings/reconnectInitialWait``,
///   doubling up to ``RollingReplicationSettings/reconnectMaxWait``, forever; after a
///   success the first reconnection is immediate.
/// - A failing item is retried with its own backoff; after
///   ``RollingReplicationSettings/failuresBeforeQuarantine`` failures it is quarantined:
///   skipped by batches and tried again every
///   ``RollingReplicationSettings/quarantineRetryInterval``, or at once after
///   `corvid sync retry` (noticed on the next reload of the failures).
public struct RollingReplicationStateMachine: Sendable {
    /// What the driver must do next.
    public enum Action: Hashable, Sendable {
        /// Read the channel's cursor, the feed's position and the failed items, then report
        /// ``RollingReplicationStateMachine/stateLoaded(cursor:feed:failures:now:)``.
        case loadState
        /// Re-read the failed items: ``RollingReplicationStateMachine/failuresLoaded(_:now:)``.
        case loadFailures
        /// Open a session with the replica: ``RollingReplicationStateMachine/connected(now:)``
        /// or ``RollingReplicationStateMachine/connectionFailed(now:)``.
        case connect
        /// Sleep until the time, or until a change commits if `wakeOnChange`; then
        /// ``RollingReplicationStateMachine/waited(now:)``.
        case wait(until: UnixTime, wakeOnChange: Bool)
        /// Read the feed after the sequence: ``RollingReplicationStateMachine/changesRead(_:now:)``.
        case readChanges(after: Int64, limit: Int)
        /// Run the work on the session: ``RollingReplicationStateMachine/replicated(_:now:)``
        /// or ``RollingReplicationStateMachine/connectionLost(now:)``. `through` is the last
        /// sequence it covers (nil for retries of failed items).
        case replicate(ReplicationWork, through: Int64?)
        /// Sync everything on the session; the cursor then becomes `through`.
        case fullSync(through: Int64)
        /// Commit the progress durably: ``RollingReplicationStateMachine/recorded(now:)``.
        case record(ReplicationProgress)
    }

    private enum Running: Sendable {
        case nothing
        case batch(through: Int64)
        case fullSync(through: Int64)
        case retry
    }

    public let settings: RollingReplicationSettings
    /// The durable cursor as last loaded or committed; nil until loaded.
    public private(set) var cursor: Int64?
    /// Set while a full sync is owed: the feed's newest sequence when that was decided.
    private var fullSyncThrough: Int64?
    private var connected = false
    private var reconnectWait: Double
    private var failures: [ReplicationItem: ReplicationFailure] = [:]
    private var failuresLoadedAt: UnixTime = 0
    private var running = Running.nothing
    private var pendingCursor: Int64?
    private var succeededOnSession = false
    /// The next session starts with a verification (``RollingReplicationSettings/verifyEachSession``).
    private var verifyNextSession = true

    public init(settings: RollingReplicationSettings) {
        self.settings = settings
        self.reconnectWait = settings.reconnectInitialWait
    }

    /// Items currently failing or quarantined, as the channel knows them.
    public var failedItems: [ReplicationFailure] { failures.values.sorted { $0.item < $1.item } }

    /// Whether a full sync is owed before the feed is followed.
    public var needsFullSync: Bool { fullSyncThrough != nil }

    public mutating func start(now: UnixTime) -> Action { .loadState }

    public mutating func stateLoaded(
        cursor stored: ReplicationCursor?,
        feed: ChangeFeedPosition,
        failures list: [ReplicationFailure],
        now: UnixTime
    ) -> Action {
        let position = stored?.sequence ?? 0
        cursor = position
        if stored == nil || position < feed.prunedThrough || settings.verifyOnStart { fullSyncThrough = feed.newest }
        return failuresLoaded(list, now: now)
    }

    public mutating func failuresLoaded(_ list: [ReplicationFailure], now: UnixTime) -> Action {
        failures = Dictionary(list.map { ($0.item, $0) }, uniquingKeysWith: { _, last in last })
        failuresLoadedAt = now
        return next(now: now)
    }

    public mutating func connected(now: UnixTime) -> Action {
        connected = true
        succeededOnSession = false
        if settings.verifyEachSession && verifyNextSession && fullSyncThrough == nil, let cursor {
            // A verification: everything compared, the cursor stays where it is.
            fullSyncThrough = cursor
        }
        verifyNextSession = false
        return next(now: now)
    }

    public mutating func connectionFailed(now: UnixTime) -> Action {
        connected = false
        running = .nothing
        pendingCursor = nil
        let wait = reconnectWait
        reconnectWait = min(max(reconnectWait * 2, settings.reconnectInitialWait), settings.reconnectMaxWait)
        return .wait(until: now + wait, wakeOnChange: false)
    }

    /// The session broke during a batch or full sync: nothing of it is committed, and the
    /// next session verifies first (the replica may have taken writes meanwhile).
    public mutating func connectionLost(now: UnixTime) -> Action {
        verifyNextSession = true
        return connectionFailed(now: now)
    }

    /// A store read or write failed: try again after a short wait (nothing is committed).
    public mutating func storeFailed(now: UnixTime) -> Action {
        running = .nothing
        pendingCursor = nil
        return .wait(until: now + settings.reconnectInitialWait, wakeOnChange: false)
    }

    public mutating func waited(now: UnixTime) -> Action { next(now: now) }

    public mutating func changesRead(_ events: [ChangeEvent], now: UnixTime) -> Action {
        guard let last = events.last else {
            running = .nothing
            var deadline = now + settings.repeatInterval
            if let due = failures.values.map(\.nextRetry).min() { deadline = min(deadline, max(due, now)) }
            return .wait(until: deadline, wakeOnChange: true)
        }
        running = .batch(through: last.sequence)
        let work = ChangeCoalescer.work(for: events).removing(quarantinedItems)
        if work.isEmpty { return commit(ReplicationOutcome(), through: last.sequence, now: now) }
        return .replicate(work, through: last.sequence)
    }

    public mutating func replicated(_ outcome: ReplicationOutcome, now: UnixTime) -> Action {
        succeededOnSession = true
        switch running {
        case .batch(let through), .fullSync(let through): return commit(outcome, through: through, now: now)
        case .retry, .nothing: return commit(outcome, through: nil, now: now)
        }
    }

    public mutating func recorded(now: UnixTime) -> Action {
        if let pendingCursor { cursor = pendingCursor }
        if case .fullSync = running { fullSyncThrough = nil }
        pendingCursor = nil
        running = .nothing
        if succeededOnSession { reconnectWait = 0 }
        return next(now: now)
    }

    private var quarantinedItems: Set<ReplicationItem> {
        Set(failures.values.filter(\.quarantined).map(\.item))
    }

    private mutating func commit(_ outcome: ReplicationOutcome, through: Int64?, now: UnixTime) -> Action {
        var progress = ReplicationProgress(channel: settings.channel, cursor: through, time: now)
        for (item, reason) in outcome.failed.sorted(by: { $0.key < $1.key }) {
            let previous = failures[item]
            let count = (previous?.failures ?? 0) + 1
            let quarantined = count >= settings.failuresBeforeQuarantine
            let wait =
                quarantined
                ? settings.quarantineRetryInterval
                : settings.itemRetryInitialWait * Double(1 << min(count - 1, 20))
            let failure = ReplicationFailure(
                channel: settings.channel,
                item: item,
                reason: reason,
                failures: count,
                quarantined: quarantined,
                firstFailure: previous?.firstFailure ?? now,
                lastFailure: now,
                nextRetry: now + wait
            )
            failures[item] = failure
            progress.failed.append(failure)
        }
        for item in outcome.attempted.sorted() where outcome.failed[item] == nil && failures[item] != nil {
            failures[item] = nil
            progress.succeeded.append(item)
        }
        pendingCursor = through
        return .record(progress)
    }

    private mutating func next(now: UnixTime) -> Action {
        guard let cursor else { return .loadState }
        guard connected else { return .connect }
        if now - failuresLoadedAt >= settings.failureReloadInterval { return .loadFailures }
        if let through = fullSyncThrough {
            running = .fullSync(through: through)
            return .fullSync(through: through)
        }
        let due = failures.values.filter { $0.nextRetry <= now }.map(\.item)
        if !due.isEmpty {
            running = .retry
            return .replicate(ReplicationWork(retrying: due), through: nil)
        }
        return .readChanges(after: cursor, limit: settings.batchLimit)
    }
}
