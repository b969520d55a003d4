import MailCore

/// One committed change, as the change feed reports it.
///
/// Every store write that changes mail state appends one of these in the same transaction,
/// so IDLE sessions and the replication log see exactly what was committed, in order.
public struct ChangeEvent: Hashable, Sendable {
    /// What changed.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case append, flags, expunge, mailboxCreate, mailboxDelete, mailboxRename, mailboxMeta
        case userCreate, userDelete, quota, subscription, seen, annotation
    }

    /// Position in the feed; strictly increasing.
    public var sequence: Int64
    public var user: String?
    public var mailbox: String?
    public var mailboxUniqueID: String?
    /// For ``Kind/mailboxRename``: the mailbox's name before the rename (rolling replication
    /// keeps both names in one batch so the replica renames rather than recreates).
    public var previousMailbox: String?
    public var kind: Kind
    public var modSeq: ModSeq?
    public var time: UnixTime

    public init(
        sequence: Int64,
        user: String?,
        mailbox: String?,
        mailboxUniqueID: String?,
        kind: Kind,
        modSeq: ModSeq?,
        time: UnixTime,
        previousMailbox: String? = nil
    ) {
        self.sequence = sequence
        self.user = user
        self.mailbox = mailbox
        self.mailboxUniqueID = mailboxUniqueID
        self.kind = kind
        self.modSeq = modSeq
        self.time = time
        self.previousMailbox = previousMailbox
    }
}
