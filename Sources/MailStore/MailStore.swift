import MailCore
import NIOCore

/// The storage contract every engine programs against (Dovecot's lib-storage idea).
///
/// Engines (LMTP, IMAP, POP3, replication) see only this protocol, never SQLite or files.
/// Every mutating call is durable when it returns: its data and index rows are fsynced, and
/// its change events are in the change feed. Implementations batch concurrent writers into
/// shared transactions (group commit), so callers should issue writes concurrently rather
/// than batching them themselves.
public protocol MailStore: Sendable {
    // MARK: Users

    /// Creates a user and, with `createInbox`, its INBOX (`user.NAME`, unless it exists) with a
    /// quota root from `quota`. Without it only the account is made: on a replica the user's
    /// mailboxes and quota arrive by replication.
    func createUser(
        _ name: UserName,
        passwordVerifier: String,
        quota: QuotaLimits,
        createInbox: Bool
    ) async throws(MailStoreError)
        -> UserAccount
    /// The user, or nil if unknown.
    func user(_ name: UserName) async throws(MailStoreError) -> UserAccount?
    /// Every user, sorted by name.
    func users() async throws(MailStoreError) -> [UserAccount]
    /// Replaces a user's password verifier.
    func setPasswordVerifier(_ verifier: String, for name: UserName) async throws(MailStoreError)
    /// Deletes a user with all its mailboxes, subscriptions, seen state and quota root.
    func deleteUser(_ name: UserName) async throws(MailStoreError)

    // MARK: Mailboxes

    /// Creates a mailbox. The owner of a `user.NAME…` mailbox gets all rights unless `acl` is given.
    func createMailbox(_ name: MailboxName, acl: ACL?) async throws(MailStoreError) -> Mailbox
    /// The mailbox, or nil if it does not exist.
    func mailbox(_ name: MailboxName) async throws(MailStoreError) -> Mailbox?
    /// The mailbox with its governing quota root, read in one snapshot (LMTP's RCPT check).
    func mailboxWithQuota(_ name: MailboxName) async throws(MailStoreError) -> (Mailbox, QuotaRoot?)?
    /// Mailboxes at or below `root` (all when nil), sorted by name.
    func mailboxes(under root: MailboxName?) async throws(MailStoreError) -> [Mailbox]
    /// The user's own mailboxes and every mailbox whose ACL names one of `identifiers` (LIST's
    /// candidates; rights are evaluated by the caller), sorted by name.
    func mailboxes(visibleTo identifiers: [String], owner: UserName) async throws(MailStoreError) -> [Mailbox]
    /// Counts of live messages without \Seen and with \Deleted (STATUS UNSEEN / DELETED).
    func flagCounts(in name: MailboxName) async throws(MailStoreError) -> FlagCounts
    /// Deletes a mailbox and releases its messages.
    func deleteMailbox(_ name: MailboxName) async throws(MailStoreError)
    /// Sets a mailbox's ACL.
    func setACL(_ acl: ACL, on name: MailboxName) async throws(MailStoreError)
    /// Records when a POP3 session last used the mailbox (`pop3_last_login`, which Cyrus's
    /// `popminpoll` reads and csync replicates).
    func setPOP3LastLogin(_ time: UnixTime, in name: MailboxName) async throws(MailStoreError)

    // MARK: Messages

    /// Records of a mailbox in UID order; tombstones only when asked for.
    func records(in name: MailboxName, includeExpunged: Bool) async throws(MailStoreError) -> [MessageRecord]
    /// The exact stored bytes of a message.
    func messageBytes(_ guid: MessageGUID) async throws(MailStoreError) -> ByteBuffer
    /// The bytes of several messages, read together (SEARCH and FETCH batches); GUIDs the store
    /// does not hold are absent from the result.
    func messageBytes(_ guids: [MessageGUID]) async throws(MailStoreError) -> [MessageGUID: ByteBuffer]
    /// The headers (through the blank line) of several messages, from the header cache; a
    /// message whose header is not cached comes back whole, which header readers accept.
    func messageHeaders(_ guids: [MessageGUID]) async throws(MailStoreError) -> [MessageGUID: ByteBuffer]
    /// Starts staging a new message.
    func beginMessage() async throws(MailStoreError) -> any MessageStagingWriter
    /// Throws away a finished staged message that will not be delivered (its staging file).
    func discardStagedMessage(_ message: StagedMessage) async
    /// Delivers one staged message to several mailboxes; each target succeeds or fails on its own.
    /// The staged bytes are consumed either way.
    func deliver(
        _ message: StagedMessage,
        to targets: [DeliveryTarget]
    ) async -> [Result<AppendedMessage, MailStoreError>]
    /// Changes flags on the given UIDs, skipping (and reporting) records whose modseq is above
    /// `unchangedSince` (RFC 7162 UNCHANGEDSINCE).
    func storeFlags(
        _ change: FlagChange,
        uids: [UID],
        in name: MailboxName,
        unchangedSince: ModSeq?
    ) async throws(MailStoreError) -> FlagStoreResult
    /// Expunges the given UIDs, leaving tombstones; returns the UIDs expunged.
    func expunge(uids: [UID], in name: MailboxName) async throws(MailStoreError) -> [UID]
    /// Copies live messages to another mailbox (new UIDs, same bytes, flags and internal
    /// dates), and with `move` expunges the originals in the same transaction.
    func copyMessages(
        uids: [UID],
        from source: MailboxName,
        to destination: MailboxName,
        move: Bool
    ) async throws(MailStoreError) -> CopyResult
    /// Renames a mailbox and every mailbox below it, keeping uniqueids, UIDVALIDITY and
    /// contents; renaming an INBOX moves its messages into a new mailbox instead (RFC 9051).
    /// Subscriptions to the renamed mailboxes move with them when `movingSubscriptions` (IMAP,
    /// where each moved one is a subscription change the replication log carries); a csync
    /// replica's APPLY RENAME leaves them, as Cyrus's sync_server does (the master's SUB/UNSUB
    /// says what they are).
    func renameMailbox(
        _ source: MailboxName,
        to destination: MailboxName,
        movingSubscriptions: Bool
    ) async throws(MailStoreError)
    /// The mailbox and, in one snapshot, its records: all live ones when `since` is nil, else
    /// every record (tombstones included) whose modseq is above `since`. Nil if no such mailbox.
    func mailboxChanges(_ name: MailboxName, since: ModSeq?) async throws(MailStoreError) -> (Mailbox, [MessageRecord])?

    // MARK: Quota

    /// A quota root, or nil if none has that name.
    func quotaRoot(_ root: String) async throws(MailStoreError) -> QuotaRoot?
    /// Sets a quota root's limits, creating it if needed.
    func setQuota(_ root: String, limits: QuotaLimits) async throws(MailStoreError)

    // MARK: Per-user state

    func subscribe(_ user: UserName, to name: MailboxName) async throws(MailStoreError)
    func unsubscribe(_ user: UserName, from name: MailboxName) async throws(MailStoreError)
    func subscriptions(of user: UserName) async throws(MailStoreError) -> [MailboxName]
    /// Seen state of a user who does not own the mailbox (the owner's lives in the flags).
    func seenState(of user: UserName, mailboxUniqueID: String) async throws(MailStoreError) -> SeenState?
    func setSeenState(_ state: SeenState, of user: UserName, mailboxUniqueID: String) async throws(MailStoreError)
    /// Sets (or with a nil value removes) an annotation on a mailbox (uid nil) or message.
    func setAnnotation(_ annotation: Annotation, in name: MailboxName) async throws(MailStoreError)
    func annotations(in name: MailboxName) async throws(MailStoreError) -> [Annotation]
    /// Sets (a value) or removes (nil) one server-level annotation (`uid` is ignored).
    func setServerAnnotation(_ annotation: Annotation) async throws(MailStoreError)
    /// Every server-level annotation, shared and private, ordered by entry and user.
    func serverAnnotations() async throws(MailStoreError) -> [Annotation]

    // MARK: Replication (csync; see Replication.swift)

    /// A mailbox's replication state by name, with the records `selection` names (tombstones
    /// and per-message annotations included), read in one snapshot. Nil if no such mailbox.
    func replicaState(
        of name: MailboxName,
        selecting selection: ReplicaRecordSelection
    ) async throws(MailStoreError)
        -> ReplicaMailboxState?
    /// The same, found by uniqueid.
    func replicaState(
        uniqueID: String,
        selecting selection: ReplicaRecordSelection
    ) async throws(MailStoreError)
        -> ReplicaMailboxState?
    /// Applies an `APPLY MAILBOX` in one durable transaction: creates the mailbox if needed,
    /// validates every record against §5.6 before writing anything, then updates existing
    /// records, appends new ones and sets the header and mailbox annotations. New records take
    /// their bytes from `messages` (uploads staged by the caller; not consumed, so one upload can
    /// serve several mailboxes) or from a message the store already holds with that GUID; a new
    /// expunged record needs no bytes. Throws `syncChanged`, `syncChecksum`, `mailboxMoved`, or
    /// `nonexistent` naming a GUID whose bytes are missing. Returns the resulting state (no records).
    func applyReplicaMailbox(
        _ update: ReplicaMailboxUpdate,
        messages: [MessageGUID: StagedMessage]
    ) async throws(MailStoreError) -> ReplicaMailboxState
    /// `APPLY EXPUNGE`: marks the UIDs expunged without a modseq bump; unknown UIDs are skipped.
    /// Throws `mailboxMoved` if the mailbox's uniqueid differs.
    func expungeReplicaRecords(uids: [UID], in name: MailboxName, uniqueID: String) async throws(MailStoreError)
    /// Which of these GUIDs the store holds bytes for (`APPLY RESERVE`).
    func storedMessages(_ guids: [MessageGUID]) async throws(MailStoreError) -> Set<MessageGUID>
    /// Every seen record of a user, keyed by mailbox uniqueid (`GET USER`, `GET META`).
    func seenStates(of user: UserName) async throws(MailStoreError) -> [String: SeenState]
    /// Which of these uniqueids name mailboxes that were deleted here (tombstones): the csync
    /// master deletes a replica's mailbox only then.
    func deletedMailboxes(uniqueIDs: [String]) async throws(MailStoreError) -> Set<String>
    /// Removes a quota root (`APPLY UNQUOTA`); mailboxes under it become unlimited.
    func deleteQuotaRoot(_ root: String) async throws(MailStoreError)

    /// Keeps conflicts a channel reported (the newest 1,000 per channel), for `sync status`.
    func recordReplicationConflicts(_ conflicts: [ReplicationConflict]) async throws(MailStoreError)
    /// The newest recorded conflicts, newest first (all channels when nil).
    func replicationConflicts(channel: String?, limit: Int) async throws(MailStoreError) -> [ReplicationConflict]
    /// The store's role in a replicated pair; nil until a failover or promotion set one.
    func replicationRole() async throws(MailStoreError) -> ReplicationRole?
    /// Sets it, durably.
    func setReplicationRole(_ role: ReplicationRole) async throws(MailStoreError)
    /// The serving process has put this state and epoch into effect (and, draining, stopped
    /// writes at `closedThrough`); ignored if the role changed meanwhile.
    func markReplicationRoleServed(
        state: ReplicationRole.State,
        epoch: Int64,
        closedThrough: Int64?
    ) async throws(MailStoreError)

    // MARK: Change feed

    /// Committed changes after `sequence`, oldest first, at most `limit`.
    func changes(after sequence: Int64, limit: Int) async throws(MailStoreError) -> [ChangeEvent]
    /// Changes committed by this process from now on, pushed as they commit.
    func changeNotifications() -> AsyncStream<ChangeEvent>
    /// The feed's newest sequence and how far it has been pruned; with `after`, also when the
    /// oldest change after that sequence was committed (a channel's lag).
    func changeFeedPosition(after sequence: Int64?) async throws(MailStoreError) -> ChangeFeedPosition

    // MARK: Rolling replication channels (see ReplicationChannelState.swift)

    /// A channel's durable cursor, nil if the channel has never replicated anything.
    func replicationCursor(_ channel: String) async throws(MailStoreError) -> ReplicationCursor?
    /// Every channel's cursor, sorted by channel.
    func replicationCursors() async throws(MailStoreError) -> [ReplicationCursor]
    /// Commits a batch's outcome in one transaction: the cursor (created if needed), failed
    /// items upserted, succeeded items' failures removed.
    func recordReplicationProgress(_ progress: ReplicationProgress) async throws(MailStoreError)
    /// Failed and quarantined items of a channel (every channel when nil), sorted.
    func replicationFailures(channel: String?) async throws(MailStoreError) -> [ReplicationFailure]
    /// Makes matching failed items due at once with a fresh retry ladder (`corvid sync retry`):
    /// items named `name` of any kind, on `channel` or every channel. Returns how many.
    func retryReplicationItems(named name: String, channel: String?) async throws(MailStoreError) -> Int
}

extension MailStore {
    /// Renames as IMAP does, subscriptions moving along.
    public func renameMailbox(_ source: MailboxName, to destination: MailboxName) async throws(MailStoreError) {
        try await renameMailbox(source, to: destination, movingSubscriptions: true)
    }

    /// Creates a user with its INBOX.
    public func createUser(
        _ name: UserName,
        passwordVerifier: String,
        quota: QuotaLimits
    ) async throws(MailStoreError) -> UserAccount {
        try await createUser(name, passwordVerifier: passwordVerifier, quota: quota, createInbox: true)
    }

    /// Changes flags unconditionally; returns the records that changed.
    public func storeFlags(
        _ change: FlagChange,
        uids: [UID],
        in name: MailboxName
    ) async throws(MailStoreError) -> [MessageRecord] {
        try await storeFlags(change, uids: uids, in: name, unchangedSince: nil).changed
    }
}

/// Per-mailbox flag counts.
public struct FlagCounts: Hashable, Sendable {
    public var unseen: Int
    public var deleted: Int

    public init(unseen: Int, deleted: Int) {
        self.unseen = unseen
        self.deleted = deleted
    }
}

/// The outcome of a flag change.
public struct FlagStoreResult: Hashable, Sendable {
    /// Records whose flags changed, with their new flags and modseq.
    public var changed: [MessageRecord] = []
    /// Records the change left as they were (flags already so).
    public var unchanged: [MessageRecord] = []
    /// UIDs not changed because they were modified after UNCHANGEDSINCE.
    public var modified: [UID] = []

    public init() {}
}

/// The outcome of a copy or move: the destination's UIDVALIDITY and source → destination UIDs.
public struct CopyResult: Sendable {
    public var uidValidity: UIDValidity
    public var pairs: [(source: UID, destination: UID)]

    public init(uidValidity: UIDValidity, pairs: [(source: UID, destination: UID)]) {
        self.uidValidity = uidValidity
        self.pairs = pairs
    }
}

/// Quota limits for a root; nil means unlimited.
public struct QuotaLimits: Hashable, Sendable {
    public var storageKiB: Int64?
    public var messages: Int64?

    public init(storageKiB: Int64? = nil, messages: Int64? = nil) {
        self.storageKiB = storageKiB
        self.messages = messages
    }

    public static let unlimited = QuotaLimits()
}

/// A flag change as STORE expresses it.
public enum FlagChange: Hashable, Sendable {
    case add(FlagSet)
    case remove(FlagSet)
    case replace(FlagSet)

    /// Applies the change to `flags`.
    public func applied(to flags: FlagSet) -> FlagSet {
        var result = flags
        switch self {
        case .add(let set):
            for flag in set.all { result.insert(flag) }
        case .remove(let set):
            for flag in set.all { result.remove(flag) }
        case .replace(let set):
            result = set
        }
        return result
    }
}

/// Cyrus's per-user seen record for a mailbox the user does not own.
public struct SeenState: Hashable, Sendable {
    public var lastRead: UnixTime
    public var lastUID: UInt32
    public var lastChange: UnixTime
    /// Seen UIDs in IMAP sequence-set form, e.g. `1:5,7`.
    public var seenUIDs: String

    public init(lastRead: UnixTime, lastUID: UInt32, lastChange: UnixTime, seenUIDs: String) {
        self.lastRead = lastRead
        self.lastUID = lastUID
        self.lastChange = lastChange
        self.seenUIDs = seenUIDs
    }
}

/// A METADATA entry (RFC 5464) on a mailbox or, with a UID, on a message.
public struct Annotation: Hashable, Sendable {
    public var uid: UID?
    /// Entry name, e.g. `/comment`.
    public var entry: String
    /// The user for private entries, empty for shared ones.
    public var userID: String
    /// The value; nil removes the entry.
    public var value: [UInt8]?
    public var modSeq: ModSeq?

    public init(uid: UID?, entry: String, userID: String, value: [UInt8]?, modSeq: ModSeq? = nil) {
        self.uid = uid
        self.entry = entry
        self.userID = userID
        self.value = value
        self.modSeq = modSeq
    }
}
