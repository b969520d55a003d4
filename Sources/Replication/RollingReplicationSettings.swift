import MailCore

/// How one rolling-replication channel paces itself. Times are in seconds.
public struct RollingReplicationSettings: Hashable, Sendable {
    /// The channel's name (`default` for the channel `sync_host` configures); its cursor and
    /// failed items are kept under this name.
    public var channel: String
    /// `sync_repeat_interval`: the longest a committed change waits before the channel looks
    /// at the feed, when no in-process notification wakes it first (changes made by another
    /// process, such as the CLI). Corvid: 0.1 s; Cyrus: 1 s.
    public var repeatInterval: Double
    /// First wait after a failed connection; doubled on each further failure.
    public var reconnectInitialWait: Double
    /// `sync_reconnect_maxwait`: the longest wait between connection attempts (Cyrus: 20 s).
    public var reconnectMaxWait: Double
    /// Named limit: change-feed entries read and coalesced into one batch.
    public var batchLimit: Int
    /// First wait before a failed item is retried; doubled on each further failure.
    public var itemRetryInitialWait: Double
    /// Named limit: consecutive failures after which an item is quarantined (set aside).
    public var failuresBeforeQuarantine: Int
    /// How long a quarantined item is set aside before it is tried again.
    public var quarantineRetryInterval: Double
    /// How often the failed items are re-read from the store, to notice `corvid sync retry`.
    public var failureReloadInterval: Double
    /// Start with a full sync even with a usable cursor: the previous run of this master ended
    /// without a clean shutdown, so every mailbox is compared with the replica (SYNC_CRC,
    /// then records) and repaired where it differs before the feed is followed.
    public var verifyOnStart: Bool
    /// `sync_verify`: every session that starts after the process started or a session was
    /// lost first compares the whole replica (a full sync: SYNC_CRC per mailbox, records where
    /// they differ) without moving the cursor, so writes the replica took while the link was
    /// down (split brain, a failover) are found and merged, not only mailboxes the master's
    /// feed names.
    public var verifyEachSession: Bool

    public init(
        channel: String,
        repeatInterval: Double = 0.1,
        reconnectInitialWait: Double = 0.25,
        reconnectMaxWait: Double = 20,
        batchLimit: Int = 1000,
        itemRetryInitialWait: Double = 0.25,
        failuresBeforeQuarantine: Int = 5,
        quarantineRetryInterval: Double = 600,
        failureReloadInterval: Double = 1,
        verifyOnStart: Bool = false,
        verifyEachSession: Bool = false
    ) {
        self.channel = channel
        self.repeatInterval = repeatInterval
        self.reconnectInitialWait = reconnectInitialWait
        self.reconnectMaxWait = reconnectMaxWait
        self.batchLimit = batchLimit
        self.itemRetryInitialWait = itemRetryInitialWait
        self.failuresBeforeQuarantine = failuresBeforeQuarantine
        self.quarantineRetryInterval = quarantineRetryInterval
        self.failureReloadInterval = failureReloadInterval
        self.verifyOnStart = verifyOnStart
        self.verifyEachSession = verifyEachSession
    }

    /// The default channel's name.
    public static let defaultChannel = "default"
}
