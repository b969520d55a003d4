import MailCore

/// How far one rolling-replication channel has replicated the change feed (its durable
/// cursor), as the store keeps it.
///
/// The change feed is the replication log (each change row is committed with the change
/// itself); a channel's cursor is the sequence of the last change it has replicated.
public struct ReplicationCursor: Hashable, Sendable {
    /// The channel (`default` for the one configured by `sync_host`).
    public var channel: String
    /// The last change-feed sequence this channel has replicated.
    public var sequence: Int64
    /// When the channel last finished a batch, nil if never.
    public var lastSuccess: UnixTime?

    public init(channel: String, sequence: Int64, lastSuccess: UnixTime?) {
        self.channel = channel
        self.sequence = sequence
        self.lastSuccess = lastSuccess
    }
}

/// Where the change feed stands: its newest sequence, and the highest sequence pruning has
/// removed (a channel whose cursor is below that has lost changes and must sync everything).
public struct ChangeFeedPosition: Hashable, Sendable {
    /// The newest sequence ever committed (0 for an empty store).
    public var newest: Int64
    /// Every change at or below this sequence has been pruned (0: none).
    public var prunedThrough: Int64
    /// When the oldest change after `after` was committed, if asked for.
    public var oldestPendingTime: UnixTime?

    public init(newest: Int64, prunedThrough: Int64, oldestPendingTime: UnixTime? = nil) {
        self.newest = newest
        self.prunedThrough = prunedThrough
        self.oldestPendingTime = oldestPendingTime
    }
}

/// What a rolling-replication work item is: the unit that fails, is retried and is
/// quarantined on its own.
public struct ReplicationItem: Hashable, Sendable, Comparable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        /// One mailbox (internal name): its contents, by `GET MAILBOXES` and `APPLY MAILBOX`.
        case mailbox
        /// One user: a full user sync (sync-protocol §5.1).
        case user
    }

    public var kind: Kind
    public var name: String

    public init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.kind.rawValue, lhs.name) < (rhs.kind.rawValue, rhs.name)
    }

    /// The server-level annotations (mailbox `""`, as in Cyrus's `ANNOTATION ""` log entry).
    public static let server = ReplicationItem(.mailbox, "")

    public var description: String { self == .server ? "server annotations" : "\(kind.rawValue) \(name)" }
}

/// A work item that failed on a channel: retried with backoff, quarantined (set aside) after
/// repeated failures, and retried again later. Removed when a retry succeeds.
public struct ReplicationFailure: Hashable, Sendable {
    public var channel: String
    public var item: ReplicationItem
    /// Why the last attempt failed (no credentials, ever).
    public var reason: String
    /// Consecutive failures.
    public var failures: Int
    /// Whether the item has been set aside (it is skipped by ordinary batches until retried).
    public var quarantined: Bool
    public var firstFailure: UnixTime
    public var lastFailure: UnixTime
    /// When the item is due to be tried again.
    public var nextRetry: UnixTime

    public init(
        channel: String,
        item: ReplicationItem,
        reason: String,
        failures: Int,
        quarantined: Bool,
        firstFailure: UnixTime,
        lastFailure: UnixTime,
        nextRetry: UnixTime
    ) {
        self.channel = channel
        self.item = item
        self.reason = reason
        self.failures = failures
        self.quarantined = quarantined
        self.firstFailure = firstFailure
        self.lastFailure = lastFailure
        self.nextRetry = nextRetry
    }
}

/// What a channel commits after a batch, in one transaction: the new cursor (if it moves),
/// the items that failed (upserted) and the items that succeeded (their failures removed).
public struct ReplicationProgress: Hashable, Sendable {
    public var channel: String
    /// The sequence now replicated, or nil to leave the cursor where it is (retries).
    public var cursor: Int64?
    public var time: UnixTime
    public var failed: [ReplicationFailure]
    public var succeeded: [ReplicationItem]

    public init(
        channel: String,
        cursor: Int64?,
        time: UnixTime,
        failed: [ReplicationFailure] = [],
        succeeded: [ReplicationItem] = []
    ) {
        self.channel = channel
        self.cursor = cursor
        self.time = time
        self.failed = failed
        self.succeeded = succeeded
    }
}
