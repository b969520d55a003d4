import IMAPCodec
import MailCore

/// The protocol state of one IMAP session (RFC 9051 §3), as a plain value.
///
/// The connection driver feeds it commands and outcomes; it answers whether a command may run
/// now and keeps what the session has negotiated. All I/O lives in ``IMAPConnection``.
public struct IMAPSession: Sendable {
    public enum StateKind: Hashable, Sendable {
        case notAuthenticated, authenticated, selected, logout
    }

    public private(set) var state: StateKind = .notAuthenticated
    public private(set) var user: UserName?
    public private(set) var isAdmin = false
    public var selected: SelectedMailbox?
    /// Capabilities turned on by ENABLE (CONDSTORE, QRESYNC, UTF8=ACCEPT).
    public private(set) var enabled: Set<String> = []
    public var tlsActive: Bool
    public var compressionActive = false
    /// A CONDSTORE-enabling command was seen (RFC 7162 §3.1: FETCH MODSEQ, SELECT (CONDSTORE)…).
    public private(set) var condStoreActive = false
    /// The saved search result (`$`, RFC 5182), as UIDs.
    public var savedSearch = UIDSet()
    public private(set) var failedLogins = 0
    public private(set) var consecutiveErrors = 0
    public private(set) var commandCount = 0

    let configuration: IMAPConfiguration

    public init(configuration: IMAPConfiguration, tlsActive: Bool) {
        self.configuration = configuration
        self.tlsActive = tlsActive
    }

    /// The verdict on a command about to run.
    public enum Admission: Equatable, Sendable {
        case run
        case refuse(IMAPStatus, IMAPResponseCode?, String)
    }

    /// Checks a parsed command against the state (the command table).
    public mutating func commandReceived(_ command: IMAPCommand) -> Admission {
        commandCount += 1
        let entry = IMAPCommandTable.entry(for: command)
        guard entry.states.contains(state) else {
            consecutiveErrors += 1
            if state == .logout { return .refuse(.bad, nil, "session is logging out") }
            if entry.states == [.notAuthenticated] {
                return .refuse(.bad, nil, "\(command.name) is only valid before login")
            }
            if state == .notAuthenticated { return .refuse(.bad, nil, "\(command.name) is not valid before login") }
            return .refuse(.bad, nil, "\(command.name) needs a selected mailbox")
        }
        if case .fetch(_, let attributes, let modifiers, _) = command,
            attributes.contains(.modSeq) || modifiers.changedSince != nil
        {
            condStoreActive = true
        }
        if case .store(_, let unchangedSince, _, _) = command, unchangedSince != nil { condStoreActive = true }
        if case .search(let search, _) = command, Self.mentionsModSeq(search.key) { condStoreActive = true }
        return .run
    }

    static func mentionsModSeq(_ key: SearchKey) -> Bool {
        key.contains { if case .modSeq = $0 { true } else { false } }
    }

    /// A command that could not be parsed.
    public mutating func badCommandReceived() { consecutiveErrors += 1 }
    /// A command completed with OK or NO.
    public mutating func commandCompleted() { consecutiveErrors = 0 }

    /// Whether the client has erred too often in a row to keep the session.
    public var tooManyErrors: Bool { consecutiveErrors >= configuration.maxConsecutiveErrors }

    /// Whether LOGIN / AUTHENTICATE PLAIN may be used on this connection now.
    public var plaintextLoginAllowed: Bool { tlsActive || configuration.allowPlaintext }

    public mutating func loggedIn(as user: UserName) {
        self.user = user
        isAdmin = configuration.admins.contains(user.name)
        state = .authenticated
        failedLogins = 0
    }

    public mutating func loginFailed() { failedLogins += 1 }

    public var tooManyFailedLogins: Bool { failedLogins >= configuration.maxFailedLogins }

    /// Delay before answering a failed login: 1, 2, 4, 8 s… capped at 8 s (doubling per failure).
    public var failedLoginDelay: Double {
        min(configuration.failedLoginDelay * Double(1 << min(failedLogins - 1, 3)), 8)
    }

    public mutating func select(_ mailbox: SelectedMailbox, condStore: Bool) {
        selected = mailbox
        state = .selected
        savedSearch = UIDSet()
        if condStore { condStoreActive = true }
    }

    public mutating func deselect() {
        selected = nil
        state = .authenticated
        savedSearch = UIDSet()
    }

    public mutating func logout() { state = .logout }

    /// Turns on what ENABLE asked for; returns what was newly enabled (RFC 5161).
    public mutating func enable(_ capabilities: [String]) -> [String] {
        var newly: [String] = []
        for capability in capabilities.map({ $0.uppercased() }) {
            guard Self.enableable.contains(capability), !enabled.contains(capability) else { continue }
            enabled.insert(capability)
            newly.append(capability == "IMAP4REV2" ? "IMAP4rev2" : capability)
            if capability == "QRESYNC" {
                // RFC 7162 §3.2.3: enabling QRESYNC implies CONDSTORE.
                condStoreActive = true
                if !enabled.contains("CONDSTORE") { enabled.insert("CONDSTORE") }
            }
            if capability == "CONDSTORE" { condStoreActive = true }
        }
        return newly
    }

    static let enableable: Set<String> = ["CONDSTORE", "QRESYNC", "IMAP4REV2", "UTF8=ACCEPT"]

    public var qresyncEnabled: Bool { enabled.contains("QRESYNC") }
    /// IMAP4rev2 behaviour (RFC 9051): ESEARCH replies, no RECENT, UTF-8 mailbox names.
    public var rev2: Bool { enabled.contains("IMAP4REV2") }
    /// Mailbox names travel as UTF-8 (IMAP4rev2 or UTF8=ACCEPT, RFC 6855).
    public var utf8Names: Bool { rev2 || enabled.contains("UTF8=ACCEPT") }

    /// The capability list for the current state (RFC 9051 §7.2.2). Only what works.
    public var capabilities: [String] {
        var caps = ["IMAP4rev1", "IMAP4rev2", "LITERAL+", "ID", "ENABLE", "IDLE", "SASL-IR"]
        if state == .notAuthenticated {
            if configuration.startTLSAvailable && !tlsActive { caps.append("STARTTLS") }
            if plaintextLoginAllowed {
                caps += ["AUTH=PLAIN", "AUTH=LOGIN"]
            } else {
                caps.append("LOGINDISABLED")
            }
            return caps
        }
        caps += [
            "NAMESPACE", "UIDPLUS", "MOVE", "UNSELECT", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE",
            "CREATE-SPECIAL-USE", "CONDSTORE", "QRESYNC", "ESEARCH", "SEARCHRES", "STATUS=SIZE",
            "APPENDLIMIT=\(configuration.maxMessageSize)", "MULTIAPPEND", "ACL", "RIGHTS=kxten", "QUOTA",
            "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE", "QUOTASET", "METADATA", "WITHIN", "OBJECTID", "SAVEDATE",
            "BINARY", "UTF8=ACCEPT",
        ]
        if configuration.compressionAvailable && !compressionActive { caps.append("COMPRESS=DEFLATE") }
        if configuration.replicationAvailable && isAdmin { caps.append("X-REPLICATION") }
        return caps
    }
}
