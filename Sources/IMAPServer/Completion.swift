import IMAPCodec
import MailStore

/// A command's tagged reply: status, response code and text.
///
/// `init(_: MailStoreError)` is the one mapping from store errors to IMAP replies (RFC 5530
/// response codes); handlers never format store failures themselves.
struct Completion: Error, Sendable {
    var status: IMAPStatus
    var code: IMAPResponseCode?
    var text: String

    static func ok(_ text: String, _ code: IMAPResponseCode? = nil) -> Completion {
        Completion(status: .ok, code: code, text: text)
    }
    static func no(_ text: String, _ code: IMAPResponseCode? = nil) -> Completion {
        Completion(status: .no, code: code, text: text)
    }
    static func bad(_ text: String, _ code: IMAPResponseCode? = nil) -> Completion {
        Completion(status: .bad, code: code, text: text)
    }

    init(status: IMAPStatus, code: IMAPResponseCode?, text: String) {
        self.status = status
        self.code = code
        self.text = text
    }

    init(_ error: MailStoreError) {
        switch error.code {
        case .nonexistent: self = .no("Mailbox does not exist", .nonexistent)
        case .alreadyExists: self = .no("Mailbox already exists", .alreadyExists)
        case .overQuota: self = .no("Over quota", .overQuota)
        case .messageTooLarge: self = .no("Message too large", .tooBig)
        case .invalidArgument: self = .no("Invalid argument: \(error.detail)", .cannot)
        case .corrupted: self = .no("Mailbox is damaged; the administrator has been told", .corruption)
        case .ioFailure: self = .no("Temporary failure, try again", .unavailable)
        case .permissionDenied: self = .no("Permission denied", .noPerm)
        // Replication conflicts: the mailbox changed under the command; the client may retry.
        case .syncChanged, .syncChecksum, .mailboxMoved: self = .no("Mailbox changed, try again", .unavailable)
        }
    }
}
