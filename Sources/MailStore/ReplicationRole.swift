import MailCore

/// Which side of a replicated pair this store is, as `corvid failover` and `corvid promote`
/// set it (issue 6 (c)). A store that never took part in a failover has none: it behaves as
/// its configuration says (client writes accepted; rolling replication if `sync_log`).
public struct ReplicationRole: Hashable, Sendable {
    public enum State: String, Hashable, Sendable {
        /// Accepts client writes and replicates to its channels.
        case master
        /// Failing over: client writes refused, channels still draining.
        case draining
        /// Fenced: client writes refused (LMTP 451 4.3.2, IMAP NO [UNAVAILABLE]) until promoted
        /// again; no rolling replication; csync applies from the master accepted.
        case replica
    }

    public var state: State
    /// Bumped at every change of master, so two stores can tell which promotion is newer.
    public var epoch: Int64
    public var since: UnixTime
    /// While draining: the feed's newest sequence once no client write was in flight any more
    /// (set by the serving process); everything up to it must reach the replicas.
    public var closedThrough: Int64?
    /// For people: why (e.g. "failed over to replica.example:2005").
    public var note: String
    /// The state the serving process has put into effect (its write gate set accordingly);
    /// nil until it has. The CLI waits for it before it reports a change as done.
    public var servedState: State?

    public init(
        state: State,
        epoch: Int64,
        since: UnixTime,
        closedThrough: Int64? = nil,
        note: String = "",
        servedState: State? = nil
    ) {
        self.state = state
        self.epoch = epoch
        self.since = since
        self.closedThrough = closedThrough
        self.note = note
        self.servedState = servedState
    }

    /// Whether clients may write (no role: yes).
    public static func acceptsWrites(_ role: ReplicationRole?) -> Bool { role.map { $0.state == .master } ?? true }
}

/// A conflict a channel settled by keeping both sides and that an administrator should look
/// at (a GUID conflict: one UID, two messages; a same-named mailbox on each side).
public struct ReplicationConflict: Hashable, Sendable {
    public var channel: String
    public var time: UnixTime
    public var text: String

    public init(channel: String, time: UnixTime, text: String) {
        self.channel = channel
        self.time = time
        self.text = text
    }
}
