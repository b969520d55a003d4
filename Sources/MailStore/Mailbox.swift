import MailCore

/// A mailbox with the full field set Cyrus keeps (csync `APPLY MAILBOX` maps onto it 1:1).
public struct Mailbox: Hashable, Sendable {
    /// Opaque identifier, never reused, stable across renames.
    public var uniqueID: String
    public var name: MailboxName
    public var partition: String
    public var acl: ACL
    public var uidValidity: UIDValidity
    /// The highest UID ever assigned (0 for none).
    public var lastUID: UInt32
    public var highestModSeq: ModSeq
    public var createdModSeq: ModSeq
    public var folderModSeq: ModSeq
    public var recentUID: UInt32
    public var recentTime: UnixTime
    public var lastAppendDate: UnixTime
    public var pop3LastLogin: UnixTime
    public var pop3ShowAfter: UnixTime
    /// Cyrus mailbox options bits (e.g. DUPLICATE_DELIVER), kept for replication.
    public var options: Int
    /// Cyrus mailbox type (`e` email is 0).
    public var mailboxType: Int
    /// The quota root this mailbox counts against, if any.
    public var quotaRoot: String?
    /// Count of live (not expunged) records.
    public var messageCount: Int
    /// Sum of live records' sizes in bytes.
    public var totalSize: Int64

    public init(
        uniqueID: String,
        name: MailboxName,
        partition: String,
        acl: ACL,
        uidValidity: UIDValidity,
        lastUID: UInt32 = 0,
        highestModSeq: ModSeq = ModSeq(1),
        createdModSeq: ModSeq = ModSeq(1),
        folderModSeq: ModSeq = ModSeq(1),
        recentUID: UInt32 = 0,
        recentTime: UnixTime = 0,
        lastAppendDate: UnixTime = 0,
        pop3LastLogin: UnixTime = 0,
        pop3ShowAfter: UnixTime = 0,
        options: Int = 0,
        mailboxType: Int = 0,
        quotaRoot: String? = nil,
        messageCount: Int = 0,
        totalSize: Int64 = 0
    ) {
        self.uniqueID = uniqueID
        self.name = name
        self.partition = partition
        self.acl = acl
        self.uidValidity = uidValidity
        self.lastUID = lastUID
        self.highestModSeq = highestModSeq
        self.createdModSeq = createdModSeq
        self.folderModSeq = folderModSeq
        self.recentUID = recentUID
        self.recentTime = recentTime
        self.lastAppendDate = lastAppendDate
        self.pop3LastLogin = pop3LastLogin
        self.pop3ShowAfter = pop3ShowAfter
        self.options = options
        self.mailboxType = mailboxType
        self.quotaRoot = quotaRoot
        self.messageCount = messageCount
        self.totalSize = totalSize
    }
}
