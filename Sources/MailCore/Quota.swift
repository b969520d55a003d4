/// Limits and usage of one quota root (RFC 9208; Cyrus quota roots).
///
/// Storage is limited in KiB as Cyrus and RFC 9208 count it, and used in bytes.
/// A nil limit means unlimited.
public struct QuotaRoot: Hashable, Sendable {
    /// The root's name: a mailbox name, e.g. `user.alice`.
    public var root: String
    public var storageLimitKiB: Int64?
    public var messageLimit: Int64?
    public var storageUsedBytes: Int64
    public var messagesUsed: Int64

    public init(
        root: String,
        storageLimitKiB: Int64?,
        messageLimit: Int64?,
        storageUsedBytes: Int64 = 0,
        messagesUsed: Int64 = 0
    ) {
        self.root = root
        self.storageLimitKiB = storageLimitKiB
        self.messageLimit = messageLimit
        self.storageUsedBytes = storageUsedBytes
        self.messagesUsed = messagesUsed
    }

    /// Whether adding `messages` messages of `bytes` total would exceed a limit.
    ///
    /// Cyrus's rule: a delivery is refused if usage after it would be over the limit.
    public func wouldExceed(addingBytes bytes: Int64, messages: Int64) -> Bool {
        if let limit = storageLimitKiB, storageUsedBytes + bytes > limit * 1024 { return true }
        if let limit = messageLimit, messagesUsed + messages > limit { return true }
        return false
    }
}
