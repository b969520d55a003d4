import MailStore

/// What a POP3 session needs from the server's configuration (Cyrus key names in comments).
public struct POP3Configuration: Sendable {
    /// `servername`: shown in the greeting.
    public var serverName: String
    /// `allowplaintext`: USER/PASS and AUTH PLAIN/LOGIN without TLS.
    public var allowPlaintext: Bool
    /// Whether STLS can be offered (a TLS context exists).
    public var startTLSAvailable: Bool
    /// `popminpoll`: minimum time between logins to one maildrop, in seconds (0: none).
    /// Advertised as `LOGIN-DELAY` (RFC 2449 §6.5).
    public var minPollSeconds: Int
    /// `poppollpadding`: how many `popminpoll` intervals of credit a client may bank (Cyrus
    /// semantics: the recorded last login moves forward by one interval per session).
    public var pollPadding: Int
    /// `popexpiretime`: days a message stays on the server, advertised as `EXPIRE`; nil is
    /// `NEVER`. Corvid does not expire mail itself, so the default is nil.
    public var expireDays: Int?
    /// `popuseimapflags`: hide messages flagged \Deleted and set \Seen on retrieved ones at QUIT.
    public var useIMAPFlags: Bool
    /// Named limit: the longest command line accepted (RFC 2449 §4 allows 255 octets; SASL
    /// responses on their own line may be longer).
    public var maxLineLength: Int
    /// Named limit: consecutive `-ERR` replies to bad commands before the server closes.
    public var maxConsecutiveErrors: Int
    /// Named limit: failed logins in one session before the server closes.
    public var maxFailedLogins: Int
    /// Delay after each failed login, doubling per failure (seconds), capped at 8 s.
    public var failedLoginDelay: Double
    /// Named limit: commands in one session (a runaway client guard).
    public var maxCommandsPerSession: Int
    /// Named limit: messages a maildrop snapshot holds; beyond it the oldest are listed and a
    /// later session sees the rest (as Cyrus, a client deleting what it read makes progress).
    public var maxMaildropMessages: Int
    /// Client writes pass this gate (closed on a fenced replica, `corvid failover`).
    public var writeGate: WriteGate?

    public init(
        serverName: String = "localhost",
        allowPlaintext: Bool = false,
        startTLSAvailable: Bool = false,
        minPollSeconds: Int = 0,
        pollPadding: Int = 1,
        expireDays: Int? = nil,
        useIMAPFlags: Bool = false,
        maxLineLength: Int = 8192,
        maxConsecutiveErrors: Int = 20,
        maxFailedLogins: Int = 5,
        failedLoginDelay: Double = 1,
        maxCommandsPerSession: Int = 10_000_000,
        maxMaildropMessages: Int = 1_000_000,
        writeGate: WriteGate? = nil
    ) {
        self.serverName = serverName
        self.allowPlaintext = allowPlaintext
        self.startTLSAvailable = startTLSAvailable
        self.minPollSeconds = minPollSeconds
        self.pollPadding = pollPadding
        self.expireDays = expireDays
        self.useIMAPFlags = useIMAPFlags
        self.maxLineLength = maxLineLength
        self.maxConsecutiveErrors = maxConsecutiveErrors
        self.maxFailedLogins = maxFailedLogins
        self.failedLoginDelay = failedLoginDelay
        self.maxCommandsPerSession = maxCommandsPerSession
        self.maxMaildropMessages = maxMaildropMessages
        self.writeGate = writeGate
    }
}
