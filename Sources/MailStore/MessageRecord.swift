import MailCore

/// One message in one mailbox, or the tombstone of an expunged one.
///
/// Tombstones keep their UID, modseq and GUID so QRESYNC `VANISHED` and csync can report
/// the expunge; their message bytes are released.
public struct MessageRecord: Hashable, Sendable {
    public var uid: UID
    public var modSeq: ModSeq
    public var lastUpdated: UnixTime
    public var internalDate: UnixTime
    public var saveDate: UnixTime
    public var size: Int64
    public var guid: MessageGUID
    public var flags: FlagSet
    public var isExpunged: Bool

    public init(
        uid: UID,
        modSeq: ModSeq,
        lastUpdated: UnixTime,
        internalDate: UnixTime,
        saveDate: UnixTime,
        size: Int64,
        guid: MessageGUID,
        flags: FlagSet,
        isExpunged: Bool = false
    ) {
        self.uid = uid
        self.modSeq = modSeq
        self.lastUpdated = lastUpdated
        self.internalDate = internalDate
        self.saveDate = saveDate
        self.size = size
        self.guid = guid
        self.flags = flags
        self.isExpunged = isExpunged
    }
}
