import LMTPCodec
import MailStore

/// Every reply the LMTP service sends, in one place (RFC 5321 codes, RFC 3463 enhanced codes).
extension LMTPReply {
    static func greeting(_ host: String) -> LMTPReply { LMTPReply(220, nil, "\(host) LMTP Corvid ready") }
    static func lhlo(_ host: String, maxSize: Int) -> LMTPReply {
        LMTPReply(
            code: 250,
            enhancedCode: nil,
            lines: [host, "8BITMIME", "ENHANCEDSTATUSCODES", "PIPELINING", "SIZE \(maxSize)"]
        )
    }
    static let senderOK = LMTPReply(250, "2.1.0", "Ok")
    static let recipientOK = LMTPReply(250, "2.1.5", "Ok")
    static func delivered(_ sessionID: String) -> LMTPReply { LMTPReply(250, "2.1.5", "Ok SESSIONID=<\(sessionID)>") }
    static let resetOK = LMTPReply(250, "2.0.0", "Ok")
    static let noopOK = LMTPReply(250, "2.0.0", "Ok")
    static let startData = LMTPReply(354, nil, "Go ahead, end with <CR><LF>.<CR><LF>")
    static func bye(_ host: String) -> LMTPReply { LMTPReply(221, "2.0.0", "\(host) closing connection") }
    static let unrecognized = LMTPReply(500, "5.5.2", "Syntax error, command unrecognized")
    static let lineTooLong = LMTPReply(500, "5.5.2", "Line too long")
    static func syntax(_ why: String) -> LMTPReply { LMTPReply(501, "5.5.4", "Syntax error: \(why)") }
    static let needLHLO = LMTPReply(503, "5.5.1", "Send LHLO first")
    static let nestedMail = LMTPReply(503, "5.5.1", "Sender already given")
    static let needMail = LMTPReply(503, "5.5.1", "Need MAIL command first")
    static let needRecipient = LMTPReply(503, "5.5.1", "Need RCPT command first")
    static let tooManyRecipients = LMTPReply(452, "4.5.3", "Too many recipients")
    static let messageTooBig = LMTPReply(552, "5.3.4", "Message size exceeds fixed maximum message size")
    static let unknownUser = LMTPReply(550, "5.1.1", "Mailbox unknown")
    static let overQuota = LMTPReply(552, "5.2.2", "Over quota")
    static let temporaryFailure = LMTPReply(451, "4.3.0", "Temporary failure, try again later")
    /// A fenced replica (`corvid failover`): the sender retries, and finds the new master.
    static let fenced = LMTPReply(451, "4.3.2", "System not accepting messages: this server is a replica now")
    /// `sync_ack: replica` and no replica confirmed in time.
    static let notReplicated = LMTPReply(451, "4.3.0", "Not yet stored on a replica, try again later")
    static let tooManyErrors = LMTPReply(421, "4.7.0", "Too many errors, closing connection")
    static let badParameter = LMTPReply(555, "5.5.4", "Unsupported parameter")

    /// The one mapping from store errors to LMTP replies.
    init(for error: MailStoreError) {
        switch error.code {
        case .nonexistent: self = .unknownUser
        case .overQuota: self = .overQuota
        case .messageTooLarge: self = .messageTooBig
        case .permissionDenied: self = LMTPReply(550, "5.7.1", "Permission denied")
        case .invalidArgument: self = LMTPReply(550, "5.1.3", "Bad recipient address")
        case .alreadyExists, .corrupted, .ioFailure, .syncChanged, .syncChecksum, .mailboxMoved:
            self = .temporaryFailure
        }
    }
}
