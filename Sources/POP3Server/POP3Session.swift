import MailCore
import POP3Codec

/// The protocol state of one POP3 session (RFC 1939 §3), as a plain value.
///
/// The connection driver feeds it commands and outcomes; it answers whether a command may run
/// now and keeps what the session has negotiated. All I/O lives in ``POP3Connection``.
public struct POP3Session: Sendable {
    public enum State: Hashable, Sendable {
        case authorization, transaction
        /// QUIT was received in TRANSACTION: deletions are being applied (RFC 1939 §6).
        case update
    }

    public private(set) var state: State = .authorization
    /// The name given by USER, waiting for PASS.
    public private(set) var pendingUser: String?
    public private(set) var user: UserName?
    public var tlsActive: Bool
    public private(set) var failedLogins = 0
    public private(set) var consecutiveErrors = 0
    public private(set) var commandCount = 0

    let configuration: POP3Configuration

    public init(configuration: POP3Configuration, tlsActive: Bool) {
        self.configuration = configuration
        self.tlsActive = tlsActive
    }

    /// The verdict on a command about to run.
    public enum Admission: Equatable, Sendable {
        case run
        case refuse(POP3Response)
    }

    /// Checks a parsed command against the state (the command table).
    public mutating func commandReceived(_ command: POP3Command) -> Admission {
        commandCount += 1
        guard POP3CommandTable.states(for: command).contains(state) else {
            consecutiveErrors += 1
            switch state {
            case .authorization: return .refuse(.err("\(command.name) is not valid before login"))
            case .transaction: return .refuse(.err("\(command.name) is only valid before login"))
            case .update: return .refuse(.err("Session is ending"))
            }
        }
        // PASS belongs right after USER (RFC 1939 §7); anything else forgets the USER.
        if case .pass = command {} else if case .user = command {} else { pendingUser = nil }
        return .run
    }

    /// A line that could not be parsed.
    public mutating func badCommandReceived() { consecutiveErrors += 1 }
    /// A command that completed (with +OK, or -ERR for a reason other than syntax).
    public mutating func commandCompleted() { consecutiveErrors = 0 }

    /// Whether the client has erred too often in a row to keep the session.
    public var tooManyErrors: Bool { consecutiveErrors >= configuration.maxConsecutiveErrors }

    /// Whether USER/PASS and AUTH PLAIN/LOGIN may be used now.
    public var plaintextLoginAllowed: Bool { tlsActive || configuration.allowPlaintext }

    public mutating func userReceived(_ name: String) { pendingUser = name }

    /// PASS consumes the pending USER either way.
    public mutating func takePendingUser() -> String? {
        defer { pendingUser = nil }
        return pendingUser
    }

    public mutating func loggedIn(as user: UserName) {
        self.user = user
        state = .transaction
        failedLogins = 0
    }

    public mutating func loginFailed() { failedLogins += 1 }

    public var tooManyFailedLogins: Bool { failedLogins >= configuration.maxFailedLogins }

    /// Delay before answering a failed login: 1, 2, 4, 8 s… capped at 8 s (doubling per failure).
    public var failedLoginDelay: Double {
        min(configuration.failedLoginDelay * Double(1 << min(max(failedLogins - 1, 0), 3)), 8)
    }

    /// QUIT in TRANSACTION: enter UPDATE (RFC 1939 §6).
    public mutating func quitReceived() { if state == .transaction { state = .update } }

    /// The CAPA listing for the current state (RFC 2449 §6). Only what works.
    public var capabilities: [String] {
        var caps: [String] = []
        if state == .authorization {
            if plaintextLoginAllowed { caps.append("SASL PLAIN LOGIN") }
            if configuration.startTLSAvailable && !tlsActive { caps.append("STLS") }
        }
        caps.append(configuration.expireDays.map { "EXPIRE \($0)" } ?? "EXPIRE NEVER")
        caps.append("LOGIN-DELAY \(configuration.minPollSeconds)")
        caps += ["TOP", "UIDL", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE"]
        if state == .authorization && plaintextLoginAllowed { caps.append("USER") }
        if state != .authorization { caps.append("IMPLEMENTATION Corvid") }
        return caps
    }
}
