import MailCore

/// The one error type at the store boundary.
///
/// A struct wrapping a private enum (postgres-nio's `PSQLError` shape) so that cases can be
/// added without breaking callers; engines switch on ``code`` and map it to their wire replies
/// in one place each (e.g. `LMTPReply(for:)`).
public struct MailStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Stable error codes.
    public enum Code: String, Hashable, Sendable {
        /// The named mailbox or user does not exist.
        case nonexistent
        /// A mailbox or user with that name already exists.
        case alreadyExists
        /// The operation would exceed a quota limit.
        case overQuota
        /// The message is larger than the configured maximum.
        case messageTooLarge
        /// A name, flag or argument is invalid.
        case invalidArgument
        /// The store found data that contradicts its invariants.
        case corrupted
        /// The disk or database failed; the operation did not happen.
        case ioFailure
        /// The operation is not permitted.
        case permissionDenied
        /// Replication: the mailbox changed since the state the update was based on
        /// (Cyrus's `IMAP_SYNC_CHANGED`); nothing was written.
        case syncChanged
        /// Replication: the update contradicts the replica's state (lower UIDVALIDITY,
        /// HIGHESTMODSEQ or LAST_UID, a record with another GUID or a newer modseq…; Cyrus's
        /// `IMAP_SYNC_CHECKSUM`); nothing was written.
        case syncChecksum
        /// Replication: the name and the uniqueid name different mailboxes (Cyrus's
        /// `IMAP_MAILBOX_MOVED`); nothing was written.
        case mailboxMoved
    }

    public let code: Code
    /// Human-readable context; never contains credentials or message content.
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code.rawValue): \(detail)" }
}
