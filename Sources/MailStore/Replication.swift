import MailCore

// The store's side of csync replication (sync-protocol.md §3, §5.6). The sync engine speaks
// the wire protocol and computes SYNC_CRCs; the store reads and applies whole mailbox states,
// each apply in one durable transaction.

/// A message record with every field replication carries (Cyrus's index record, §3.2.2).
public struct ReplicaRecord: Hashable, Sendable {
    public var uid: UID
    public var modSeq: ModSeq
    public var lastUpdated: UnixTime
    public var internalDate: UnixTime
    /// SAVEDATE (0 when unknown).
    public var saveDate: UnixTime
    /// The modseq the record was created with (Cyrus's `createdmodseq`; 0 when unknown).
    public var createdModSeq: ModSeq
    public var size: Int64
    public var guid: MessageGUID
    /// System flags and keywords; `\Recent` never, `\Expunged` is ``isExpunged``.
    public var flags: FlagSet
    public var isExpunged: Bool
    /// Real per-message annotations (their `uid` set); the virtual ones (savedate,
    /// createdmodseq, thrid) are fields of the record, not annotations.
    public var annotations: [Annotation]

    public init(
        uid: UID,
        modSeq: ModSeq,
        lastUpdated: UnixTime,
        internalDate: UnixTime,
        saveDate: UnixTime = 0,
        createdModSeq: ModSeq = ModSeq(0),
        size: Int64,
        guid: MessageGUID,
        flags: FlagSet = FlagSet(),
        isExpunged: Bool = false,
        annotations: [Annotation] = []
    ) {
        self.uid = uid
        self.modSeq = modSeq
        self.lastUpdated = lastUpdated
        self.internalDate = internalDate
        self.saveDate = saveDate
        self.createdModSeq = createdModSeq
        self.size = size
        self.guid = guid
        self.flags = flags
        self.isExpunged = isExpunged
        self.annotations = annotations
    }
}

/// A mailbox as replication sees it: the header, its mailbox-level annotations and, when asked
/// for, every record (expunged ones included, ascending UID).
public struct ReplicaMailboxState: Hashable, Sendable {
    public var mailbox: Mailbox
    /// Mailbox-level annotations (uid nil), shared (`userID` "") and private.
    public var annotations: [Annotation]
    /// Every record, tombstones included, in UID order; empty when not requested.
    public var records: [ReplicaRecord]

    public init(mailbox: Mailbox, annotations: [Annotation], records: [ReplicaRecord]) {
        self.mailbox = mailbox
        self.annotations = annotations
        self.records = records
    }
}

/// Which records a ``ReplicaMailboxState`` read carries.
public enum ReplicaRecordSelection: Hashable, Sendable {
    /// The header and mailbox annotations only.
    case none
    /// Every record.
    case all
    /// The records whose MODSEQ (or one of whose annotations' modseq) is above `modSeq`, and
    /// those whose UID is above `uid`: what changed since a state with that HIGHESTMODSEQ and
    /// LAST_UID, provided every change raises the record's modseq above the mailbox's
    /// HIGHESTMODSEQ of the time (true of local writes and of in-order replica applies).
    case changed(sinceModSeq: ModSeq, aboveUID: UInt32)
}

extension MailStore {
    /// A mailbox's replication state by name; with `records`, every record.
    public func replicaState(
        of name: MailboxName,
        records: Bool
    ) async throws(MailStoreError)
        -> ReplicaMailboxState?
    {
        try await replicaState(of: name, selecting: records ? .all : .none)
    }

    /// A mailbox's replication state by uniqueid; with `records`, every record.
    public func replicaState(uniqueID: String, records: Bool) async throws(MailStoreError) -> ReplicaMailboxState? {
        try await replicaState(uniqueID: uniqueID, selecting: records ? .all : .none)
    }
}

/// An `APPLY MAILBOX` as the store applies it (§3.4.3 steps 3-9, §5.6).
///
/// `mailbox` carries the master's header values (uniqueid, name, partition, ACL, UIDVALIDITY,
/// LAST_UID, HIGHESTMODSEQ, CREATEDMODSEQ, FOLDERMODSEQ, RECENTUID, RECENTTIME,
/// LAST_APPENDDATE, POP3_LAST_LOGIN, POP3_SHOW_AFTER, OPTIONS, MBOXTYPE); `messageCount`,
/// `totalSize` and `quotaRoot` are ignored (the store keeps its own). `records` is a delta in
/// ascending UID order: records absent from it are left alone.
public struct ReplicaMailboxUpdate: Hashable, Sendable {
    public var mailbox: Mailbox
    /// The master's complete set of mailbox-level annotations (replica-only ones are removed).
    public var annotations: [Annotation]
    public var records: [ReplicaRecord]
    /// Apply only while the replica's HIGHESTMODSEQ is still this value (the state the caller
    /// checked `SINCE_MODSEQ`/`SINCE_CRC` against); otherwise fail with ``MailStoreError/Code/syncChanged``.
    /// Nil: no such check (a mailbox the caller found absent must still be absent).
    public var expectedHighestModSeq: ModSeq?
    /// `APPLY FORCE` mode: the sanity checks of step 7 and "replica record newer" are not errors.
    public var force: Bool

    public init(
        mailbox: Mailbox,
        annotations: [Annotation],
        records: [ReplicaRecord],
        expectedHighestModSeq: ModSeq?,
        force: Bool = false
    ) {
        self.mailbox = mailbox
        self.annotations = annotations
        self.records = records
        self.expectedHighestModSeq = expectedHighestModSeq
        self.force = force
    }
}
