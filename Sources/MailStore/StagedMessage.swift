import MailCore
import NIOCore

/// Writes one incoming message to the store's staging area as it arrives.
///
/// Engines stream bytes in (LMTP DATA, IMAP APPEND literals) without holding the message in
/// memory and without knowing where the store keeps files. Nothing written here is durable or
/// visible until ``MailStore/deliver(_:to:)`` commits it.
public protocol MessageStagingWriter: Sendable {
    /// Appends bytes to the message.
    func write(_ bytes: ByteBuffer) async throws(MailStoreError)
    /// Finishes the message, returning its GUID and size.
    func finish() async throws(MailStoreError) -> StagedMessage
    /// Throws the message away.
    func discard() async
}

/// A fully staged message: bytes written, GUID known, not yet delivered anywhere.
public struct StagedMessage: Sendable {
    public let guid: MessageGUID
    public let size: Int64
    /// Store-private locator of the staged bytes (a staging file), empty when held in memory.
    public let token: String
    /// Store-private: the bytes themselves, for messages small enough to be stored inline.
    public let inlineBytes: ByteBuffer?
    /// Store-private: the header (through the blank line) when it was short enough to cache.
    public let header: ByteBuffer?

    public init(
        guid: MessageGUID,
        size: Int64,
        token: String,
        inlineBytes: ByteBuffer? = nil,
        header: ByteBuffer? = nil
    ) {
        self.guid = guid
        self.size = size
        self.token = token
        self.inlineBytes = inlineBytes
        self.header = header
    }
}

/// Where one copy of a staged message goes.
public struct DeliveryTarget: Hashable, Sendable {
    public var mailbox: MailboxName
    public var flags: FlagSet
    public var internalDate: UnixTime
    /// Whether quota limits apply (false for administrative restores).
    public var enforceQuota: Bool

    public init(mailbox: MailboxName, flags: FlagSet = FlagSet(), internalDate: UnixTime, enforceQuota: Bool = true) {
        self.mailbox = mailbox
        self.flags = flags
        self.internalDate = internalDate
        self.enforceQuota = enforceQuota
    }
}

/// The outcome of one delivered copy.
public struct AppendedMessage: Hashable, Sendable {
    public var mailbox: MailboxName
    public var uidValidity: UIDValidity
    public var uid: UID
    public var modSeq: ModSeq

    public init(mailbox: MailboxName, uidValidity: UIDValidity, uid: UID, modSeq: ModSeq) {
        self.mailbox = mailbox
        self.uidValidity = uidValidity
        self.uid = uid
        self.modSeq = modSeq
    }
}
