import SyncCodec

/// The protocol state of one replica-side csync session (sync-protocol §1.4-1.9), as a value.
///
/// The connection driver feeds it commands and outcomes; it answers whether a command may run
/// now. All I/O lives in ``SyncServerConnection``.
public struct SyncServerSession: Sendable {
    public enum State: Hashable, Sendable {
        case unauthenticated
        /// Logged in; `admin` says whether the user may replicate.
        case authenticated(user: String, admin: Bool)
    }

    public private(set) var state: State = .unauthenticated
    public var tlsActive: Bool
    public var compressionActive = false
    public private(set) var failedLogins = 0
    /// `APPLY FORCE` was received: the master's state is imposed from now on (§3.4.14).
    public private(set) var force = false

    let configuration: SyncServerConfiguration

    public init(configuration: SyncServerConfiguration, tlsActive: Bool) {
        self.configuration = configuration
        self.tlsActive = tlsActive
    }

    /// The verdict on a command about to run.
    public enum Admission: Hashable, Sendable {
        case run
        case refuse(SyncStatus)
    }

    /// Checks a command against the state, with Cyrus's answers.
    public mutating func commandReceived(_ command: SyncCommand) -> Admission {
        switch (state, command) {
        case (.unauthenticated, .get), (.unauthenticated, .apply), (.unauthenticated, .restore):
            return .refuse(SyncStatus(.no, text: "Please authenticate first"))
        case (.unauthenticated, _):
            return .run
        case (.authenticated(_, false), _):
            // Every command after login needs an admin, even NOOP (verified against Cyrus).
            return .refuse(SyncStatus(.no, text: "Permission denied"))
        case (.authenticated, .authenticate):
            return .refuse(SyncStatus(.bad, text: "Already authenticated"))
        case (.authenticated, .startTLS):
            return .refuse(SyncStatus(.bad, text: "Can't Starttls after authentication"))
        case (.authenticated, _):
            return .run
        }
    }

    /// Whether SASL PLAIN may be used now.
    public var plaintextLoginAllowed: Bool { tlsActive || configuration.allowPlaintext }

    public mutating func loggedIn(as user: String) {
        state = .authenticated(user: user, admin: configuration.admins.contains(user))
        failedLogins = 0
    }

    public mutating func loginFailed() { failedLogins += 1 }

    public var tooManyFailedLogins: Bool { failedLogins >= configuration.maxFailedLogins }

    /// Delay before answering a failed login: 1, 2, 4, 8 s… capped at 8 s.
    public var failedLoginDelay: Double {
        min(configuration.failedLoginDelay * Double(1 << min(max(failedLogins - 1, 0), 3)), 8)
    }

    public mutating func forceReceived() { force = true }

    /// The banner lines before `* OK` (§1.3): what this session may still do.
    public var bannerCapabilities: [String] {
        var lines: [String] = []
        guard case .unauthenticated = state else { return lines }
        if plaintextLoginAllowed { lines.append("SASL PLAIN") }
        if configuration.startTLSAvailable && !tlsActive { lines.append("STARTTLS") }
        if configuration.compressionAvailable && !compressionActive && !tlsActive { lines.append("COMPRESS DEFLATE") }
        if configuration.promotionAvailable { lines.append("X-CORVID-PROMOTE") }
        return lines
    }
}
