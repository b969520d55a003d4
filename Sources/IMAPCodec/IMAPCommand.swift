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

/// Every command the server understands (RFC 9051 and the extensions it advertises).
///
/// `uid` marks the `UID` prefixed forms. APPEND's message literals are streamed by the frame
/// decoder; `.append` carries them only when a client encodes the command.
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
    case select(MailboxArgument, SelectParameters)
    case examine(MailboxArgument, SelectParameters)
    /// `CREATE mailbox [(USE (\\Drafts …))]` (RFC 6154 CREATE-SPECIAL-USE)
    case create(MailboxArgument, specialUse: [String])
    case delete(MailboxArgument)
    case rename(from: MailboxArgument, to: MailboxArgument)
    case subscribe(MailboxArgument)
    case unsubscribe(MailboxArgument)
    case status(MailboxArgument, items: [String])
    case namespace
    case id([(key: [UInt8], value: [UInt8]?)]?)
    case idle
    case list(ListCommand)
    /// `LSUB reference pattern` (RFC 3501)
    case lsub(reference: [UInt8], pattern: [UInt8])
    case append(MailboxArgument, [AppendMessage])
    /// `COMPRESS DEFLATE` (RFC 4978)
    case compress(String)
    // ACL (RFC 4314)
    case getACL(MailboxArgument)
    case setACL(MailboxArgument, identifier: [UInt8], rights: [UInt8])
    case deleteACL(MailboxArgument, identifier: [UInt8])
    case listRights(MailboxArgument, identifier: [UInt8])
    case myRights(MailboxArgument)
    // QUOTA (RFC 9208)
    case getQuota(root: [UInt8])
    case getQuotaRoot(MailboxArgument)
    /// `SETQUOTA root (resource limit …)`
    case setQuota(root: [UInt8], limits: [QuotaLimit])
    // METADATA (RFC 5464)
    case getMetadata(MailboxArgument, options: MetadataOptions, entries: [String])
    /// `SETMETADATA mailbox (entry value …)`; a nil value removes the entry.
    case setMetadata(MailboxArgument, entries: [MetadataEntry])
    // Selected (§6.4)
    case check
    case close
    case unselect
    case expunge
    case uidExpunge(SequenceSet)
    case fetch(SequenceSet, [FetchAttribute], FetchModifiers, uid: Bool)
    case store(SequenceSet, unchangedSince: UInt64?, StoreAction, uid: Bool)
    case search(SearchCommand, uid: Bool)
    case copy(SequenceSet, MailboxArgument, uid: Bool)
    case move(SequenceSet, MailboxArgument, uid: Bool)

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
        case .list: "LIST"
        case .lsub: "LSUB"
        case .append: "APPEND"
        case .compress: "COMPRESS"
        case .getACL: "GETACL"
        case .setACL: "SETACL"
        case .deleteACL: "DELETEACL"
        case .listRights: "LISTRIGHTS"
        case .myRights: "MYRIGHTS"
        case .getQuota: "GETQUOTA"
        case .getQuotaRoot: "GETQUOTAROOT"
        case .setQuota: "SETQUOTA"
        case .getMetadata: "GETMETADATA"
        case .setMetadata: "SETMETADATA"
        case .fetch(_, _, _, let uid): uid ? "UID FETCH" : "FETCH"
        case .store(_, _, _, let uid): uid ? "UID STORE" : "STORE"
        case .search(_, let uid): uid ? "UID SEARCH" : "SEARCH"
        case .copy(_, _, let uid): uid ? "UID COPY" : "COPY"
        case .move(_, _, let uid): uid ? "UID MOVE" : "MOVE"
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

/// One `resource limit` pair of SETQUOTA (RFC 9208 §4.2.3); resources are STORAGE (KiB),
/// MESSAGE, MAILBOX, ANNOTATION-STORAGE.
public struct QuotaLimit: Hashable, Sendable {
    public var resource: String
    public var limit: UInt64

    public init(resource: String, limit: UInt64) {
        self.resource = resource
        self.limit = limit
    }
}

/// GETMETADATA options (RFC 5464 §4.2): `MAXSIZE n`, `DEPTH 0|1|infinity`.
public struct MetadataOptions: Hashable, Sendable {
    public enum Depth: Hashable, Sendable {
        case zero, one, infinity
    }

    public var maxSize: UInt32?
    public var depth: Depth

    public init(maxSize: UInt32? = nil, depth: Depth = .zero) {
        self.maxSize = maxSize
        self.depth = depth
    }
}

/// One entry of SETMETADATA or of a METADATA response.
public struct MetadataEntry: Hashable, Sendable {
    /// e.g. `/private/comment`
    public var name: String
    public var value: [UInt8]?

    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
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
        case .select(let mailbox, let parameters), .examine(let mailbox, let parameters):
            buffer.writeString(" ")
            IMAPWriter.writeAString(mailbox.bytes, into: &buffer)
            parameters.write(into: &buffer)
        case .create(let mailbox, let specialUse):
            buffer.writeString(" ")
            IMAPWriter.writeAString(mailbox.bytes, into: &buffer)
            if !specialUse.isEmpty { buffer.writeString(" (USE (\(specialUse.joined(separator: " "))))") }
        case .delete(let mailbox), .subscribe(let mailbox), .unsubscribe(let mailbox), .getACL(let mailbox),
            .myRights(let mailbox), .getQuotaRoot(let mailbox):
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
        case .list(let list):
            buffer.writeString(" ")
            list.write(into: &buffer)
        case .lsub(let reference, let pattern):
            buffer.writeString(" ")
            IMAPWriter.writeAString(reference, into: &buffer)
            buffer.writeString(" ")
            IMAPWriter.writeListMailbox(pattern, into: &buffer)
        case .append(let mailbox, let messages):
            buffer.writeString(" ")
            IMAPWriter.writeAString(mailbox.bytes, into: &buffer)
            for message in messages { message.write(into: &buffer) }
        case .compress(let algorithm):
            buffer.writeString(" \(algorithm)")
        case .setACL(let mailbox, let identifier, let rights):
            Self.writeAStrings([mailbox.bytes, identifier, rights], into: &buffer)
        case .deleteACL(let mailbox, let identifier), .listRights(let mailbox, let identifier):
            Self.writeAStrings([mailbox.bytes, identifier], into: &buffer)
        case .getQuota(let root):
            Self.writeAStrings([root], into: &buffer)
        case .setQuota(let root, let limits):
            Self.writeAStrings([root], into: &buffer)
            buffer.writeString(" (\(limits.map { "\($0.resource) \($0.limit)" }.joined(separator: " ")))")
        case .getMetadata(let mailbox, let options, let entries):
            var items: [String] = []
            if let maxSize = options.maxSize { items.append("MAXSIZE \(maxSize)") }
            switch options.depth {
            case .zero: break
            case .one: items.append("DEPTH 1")
            case .infinity: items.append("DEPTH infinity")
            }
            if !items.isEmpty { buffer.writeString(" (\(items.joined(separator: " ")))") }
            Self.writeAStrings([mailbox.bytes], into: &buffer)
            buffer.writeString(entries.count == 1 ? " " : " (")
            for (index, entry) in entries.enumerated() {
                if index > 0 { buffer.writeString(" ") }
                IMAPWriter.writeAString(Array(entry.utf8), into: &buffer)
            }
            if entries.count != 1 { buffer.writeString(")") }
        case .setMetadata(let mailbox, let entries):
            Self.writeAStrings([mailbox.bytes], into: &buffer)
            buffer.writeString(" (")
            for (index, entry) in entries.enumerated() {
                if index > 0 { buffer.writeString(" ") }
                IMAPWriter.writeAString(Array(entry.name.utf8), into: &buffer)
                buffer.writeString(" ")
                guard let value = entry.value else {
                    buffer.writeString("NIL")
                    continue
                }
                if value.contains(0) {
                    buffer.writeString("~{\(value.count)}\r\n")
                    buffer.writeBytes(value)
                } else {
                    IMAPWriter.writeString(value, into: &buffer)
                }
            }
            buffer.writeString(")")
        case .fetch(let set, let attributes, let modifiers, _):
            buffer.writeString(" \(set) (\(attributes.map(\.description).joined(separator: " ")))")
            modifiers.write(into: &buffer)
        case .store(let set, let unchangedSince, let action, _):
            buffer.writeString(" \(set)")
            if let unchangedSince { buffer.writeString(" (UNCHANGEDSINCE \(unchangedSince))") }
            buffer.writeString(" \(action)")
        case .search(let search, _):
            buffer.writeString(" ")
            search.write(into: &buffer)
        case .copy(let set, let mailbox, _), .move(let set, let mailbox, _):
            buffer.writeString(" \(set)")
            Self.writeAStrings([mailbox.bytes], into: &buffer)
        }
    }

    /// ` a b c`: each astring after a space.
    private static func writeAStrings(_ values: [[UInt8]], into buffer: inout ByteBuffer) {
        for value in values {
            buffer.writeString(" ")
            IMAPWriter.writeAString(value, into: &buffer)
        }
    }
}
