import MailCore
import NIOCore

/// A tagged client command (RFC 9051 §6), as parsed from one frame.
public struct TaggedCommand: Hashable, Sendable {
    public var tag: String
    public var command: IMAPCommand

    public init(tag: String, command: IMAPCommand) {
        self.tag = tag
        self.command = command
    }
}

/// The commands this codec understands so far (issue 3 adds the rest: LIST extensions, APPEND,
/// FETCH, STORE, SEARCH, COPY/MOVE, UID forms, and the extension commands).
public enum IMAPCommand: Hashable, Sendable {
    // Any state (RFC 9051 §6.1)
    case capability
    case noop
    case logout
    // Not authenticated (§6.2)
    case startTLS
    case authenticate(mechanism: String, initialResponse: [UInt8]?)
    case login(user: [UInt8], password: [UInt8])
    // Authenticated (§6.3)
    case enable([String])
    case select(MailboxArgument)
    case examine(MailboxArgument)
    case create(MailboxArgument)
    case delete(MailboxArgument)
    case rename(from: MailboxArgument, to: MailboxArgument)
    case subscribe(MailboxArgument)
    case unsubscribe(MailboxArgument)
    case status(MailboxArgument, items: [String])
    case namespace
    case id([(key: [UInt8], value: [UInt8]?)]?)
    case idle
    // Selected (§6.4)
    case check
    case close
    case unselect
    case expunge
    case uidExpunge(SequenceSet)

    /// The command's name as written on the wire.
    public var name: String {
        switch self {
        case .capability: "CAPABILITY"
        case .noop: "NOOP"
        case .logout: "LOGOUT"
        case .startTLS: "STARTTLS"
        case .authenticate: "AUTHENTICATE"
        case .login: "LOGIN"
        case .enable: "ENABLE"
        case .select: "SELECT"
        case .examine: "EXAMINE"
        case .create: "CREATE"
        case .delete: "DELETE"
        case .rename: "RENAME"
        case .subscribe: "SUBSCRIBE"
        case .unsubscribe: "UNSUBSCRIBE"
        case .status: "STATUS"
        case .namespace: "NAMESPACE"
        case .id: "ID"
        case .idle: "IDLE"
        case .check: "CHECK"
        case .close: "CLOSE"
        case .unselect: "UNSELECT"
        case .expunge: "EXPUNGE"
        case .uidExpunge: "UID EXPUNGE"
        }
    }

    public static func == (lhs: IMAPCommand, rhs: IMAPCommand) -> Bool {
        var a = ByteBuffer()
        var b = ByteBuffer()
        lhs.write(into: &a)
        rhs.write(into: &b)
        return a == b
    }

    public func hash(into hasher: inout Hasher) {
        var buffer = ByteBuffer()
        write(into: &buffer)
        hasher.combine(buffer)
    }
}

/// The STATUS items RFC 9051 §6.3.11 and its extensions define.
public enum StatusItem {
    public static let known: Set<String> = [
        "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT",
        "MAILBOXID",
    ]
}

// MARK: - Encoding

extension TaggedCommand {
    /// Writes the command as a client sends it, literals inline (a real client waits for the
    /// continuation after each synchronizing literal), CRLF included.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeString(tag)
        buffer.writeString(" ")
        command.write(into: &buffer)
        buffer.writeString("\r\n")
    }
}

extension IMAPCommand {
    func write(into buffer: inout ByteBuffer) {
        buffer.writeString(name)
        switch self {
        case .capability, .noop, .logout, .startTLS, .namespace, .idle, .check, .close, .unselect, .expunge:
            break
        case .authenticate(let mechanism, let initial):
            buffer.writeString(" \(mechanism)")
            if let initial { buffer.writeString(" " + (initial.isEmpty ? "=" : Base64.encode(initial))) }
        case .login(let user, let password):
            buffer.writeString(" ")
            IMAPWriter.writeAString(user, into: &buffer)
            buffer.writeString(" ")
            IMAPWriter.writeAString(password, into: &buffer)
        case .enable(let capabilities):
            for capability in capabilities { buffer.writeString(" \(capability)") }
        case .select(let mailbox), .examine(let mailbox), .create(let mailbox), .delete(let mailbox),
            .subscribe(let mailbox), .unsubscribe(let mailbox):
            buffer.writeString(" ")
            IMAPWriter.writeAString(mailbox.bytes, into: &buffer)
        case .rename(let from, let to):
            buffer.writeString(" ")
            IMAPWriter.writeAString(from.bytes, into: &buffer)
            buffer.writeString(" ")
            IMAPWriter.writeAString(to.bytes, into: &buffer)
        case .status(let mailbox, let items):
            buffer.writeString(" ")
            IMAPWriter.writeAString(mailbox.bytes, into: &buffer)
            buffer.writeString(" (\(items.joined(separator: " ")))")
        case .id(let parameters):
            guard let parameters else {
                buffer.writeString(" NIL")
                break
            }
            buffer.writeString(" (")
            for (index, pair) in parameters.enumerated() {
                if index > 0 { buffer.writeString(" ") }
                IMAPWriter.writeString(pair.key, into: &buffer)
                buffer.writeString(" ")
                if let value = pair.value {
                    IMAPWriter.writeString(value, into: &buffer)
                } else {
                    buffer.writeString("NIL")
                }
            }
            buffer.writeString(")")
        case .uidExpunge(let set):
            buffer.writeString(" \(set)")
        }
    }
}
