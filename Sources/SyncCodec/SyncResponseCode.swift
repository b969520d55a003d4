/// The `IMAP_…` code word a replica puts after `NO` (or `BAD`) in csync (sync-protocol §2.7).
///
/// Cyrus's client recognises a code only when a space follows it, so a code sent without text
/// (`NO IMAP_PROTOCOL_BAD_PARAMETERS`, as Cyrus does) reads there as a generic failure; this
/// decoder recognises it either way.
public struct SyncResponseCode: Hashable, Sendable, CustomStringConvertible {
    /// The code word, e.g. `IMAP_SYNC_CHECKSUM`.
    public let rawValue: String

    /// Accepts `IMAP_` followed by upper-case letters, digits and underscores.
    public init?(rawValue: String) {
        let bytes = Array(rawValue.utf8)
        guard bytes.count > 5, rawValue.hasPrefix("IMAP_"),
            bytes.allSatisfy({
                ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z"))
                    || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                    || $0 == UInt8(ascii: "_")
            })
        else { return nil }
        self.rawValue = rawValue
    }

    private init(known: String) { self.rawValue = known }

    public var description: String { rawValue }

    /// Reserved; not produced by 3.6 sync code paths.
    public static let invalidUser = SyncResponseCode(known: "IMAP_INVALID_USER")
    /// The mailbox does not exist (clients treat it as success for UNMAILBOX/UNUSER).
    public static let mailboxNonexistent = SyncResponseCode(known: "IMAP_MAILBOX_NONEXISTENT")
    /// A lock could not be taken; rolling mode defers the item.
    public static let mailboxLocked = SyncResponseCode(known: "IMAP_MAILBOX_LOCKED")
    /// The UNIQUEID belongs to another name, or the name to another UNIQUEID.
    public static let mailboxMoved = SyncResponseCode(known: "IMAP_MAILBOX_MOVED")
    /// The replica mailbox is too old for the operation.
    public static let mailboxNotSupported = SyncResponseCode(known: "IMAP_MAILBOX_NOTSUPPORTED")
    /// APPLY MAILBOX consistency failure; starts the client's retry ladder.
    public static let syncChecksum = SyncResponseCode(known: "IMAP_SYNC_CHECKSUM")
    /// The SINCE_* precondition of a delta did not hold.
    public static let syncChanged = SyncResponseCode(known: "IMAP_SYNC_CHANGED")
    /// Reserved: sieve compilation failure.
    public static let syncBadSieve = SyncResponseCode(known: "IMAP_SYNC_BADSIEVE")
    /// Unknown GET/APPLY sub-command, or (with BAD) an unparseable command.
    public static let protocolError = SyncResponseCode(known: "IMAP_PROTOCOL_ERROR")
    /// A mandatory field is missing or does not convert; Cyrus sends it without text.
    public static let protocolBadParameters = SyncResponseCode(known: "IMAP_PROTOCOL_BAD_PARAMETERS")
    /// Current Cyrus master only.
    public static let permissionDenied = SyncResponseCode(known: "IMAP_PERMISSION_DENIED")

    /// The text Cyrus sends after the code, or nil when it sends none.
    public var standardText: String? {
        switch rawValue {
        case "IMAP_INVALID_USER": "No Such User"
        case "IMAP_MAILBOX_NONEXISTENT": "No Such Mailbox"
        case "IMAP_MAILBOX_LOCKED": "Mailbox locked"
        case "IMAP_MAILBOX_MOVED": "Mailbox exists with another name or uniqueid"
        case "IMAP_MAILBOX_NOTSUPPORTED": "Operation is not supported on mailbox"
        case "IMAP_SYNC_CHECKSUM": "Checksum Failure"
        case "IMAP_SYNC_CHANGED": "Changed since last sync"
        case "IMAP_SYNC_BADSIEVE": "Sieve script compilation failure"
        case "IMAP_PROTOCOL_ERROR": "Protocol error"
        case "IMAP_PERMISSION_DENIED": "Permission denied"
        default: nil
        }
    }
}
