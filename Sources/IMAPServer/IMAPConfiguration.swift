import IMAPCodec
import MailCore
import MailStore

/// What an IMAP session needs from the server's configuration (Cyrus key names in comments).
public struct IMAPConfiguration: Sendable {
    /// `servername`: shown in the greeting.
    public var serverName: String
    /// `admins`: users with every right on every mailbox, who see the standard namespace.
    public var admins: Set<String>
    /// `altnamespace`
    public var altNamespace: Bool
    /// `unixhierarchysep`
    public var unixHierarchySep: Bool
    /// `allowplaintext`: LOGIN and AUTHENTICATE PLAIN/LOGIN without TLS.
    public var allowPlaintext: Bool
    /// Whether STARTTLS can be offered (a TLS context exists).
    public var startTLSAvailable: Bool
    /// Whether COMPRESS=DEFLATE can be offered (the transport supports it).
    public var compressionAvailable: Bool
    /// `maxmessagesize`: the APPENDLIMIT, in bytes.
    public var maxMessageSize: Int
    /// Framing limits (line length, literal size, command size, literal count).
    public var frameLimits: IMAPFrameDecoder.Limits
    /// Named limit: commands in one session before the server says BYE (a runaway client guard).
    public var maxCommandsPerSession: Int
    /// Named limit: consecutive BAD replies before the server says BYE.
    public var maxConsecutiveErrors: Int
    /// Named limit: failed logins in one session before the server says BYE.
    public var maxFailedLogins: Int
    /// Delay after each failed login, doubling per failure (seconds), capped at 8 s.
    public var failedLoginDelay: Double
    /// Named limit: messages one FETCH answers before it stops with NO [LIMIT] (never hit by
    /// normal clients; the whole of a 100,000-message mailbox fits).
    public var maxFetchMessages: Int
    /// Whether admins are offered `X-REPLICATION` (the server is a csync replica and serves the
    /// IMAP flavour through an ``IMAPReplicationService``).
    public var replicationAvailable: Bool
    /// `sync_ack: replica`: APPEND answers OK only once a replica holds the message.
    public var replicaAck: (any ReplicaAcknowledgement)?
    /// Client writes pass this gate (closed on a fenced replica, `corvid failover`).
    public var writeGate: WriteGate?

    public init(
        serverName: String = "localhost",
        admins: Set<String> = [],
        altNamespace: Bool = true,
        unixHierarchySep: Bool = true,
        allowPlaintext: Bool = false,
        startTLSAvailable: Bool = false,
        compressionAvailable: Bool = false,
        maxMessageSize: Int = 50 * 1024 * 1024,
        frameLimits: IMAPFrameDecoder.Limits = IMAPFrameDecoder.Limits(),
        maxCommandsPerSession: Int = 10_000_000,
        maxConsecutiveErrors: Int = 20,
        maxFailedLogins: Int = 5,
        failedLoginDelay: Double = 1,
        maxFetchMessages: Int = 1_000_000,
        replicationAvailable: Bool = false,
        replicaAck: (any ReplicaAcknowledgement)? = nil,
        writeGate: WriteGate? = nil
    ) {
        self.serverName = serverName
        self.admins = admins
        self.altNamespace = altNamespace
        self.unixHierarchySep = unixHierarchySep
        self.allowPlaintext = allowPlaintext
        self.startTLSAvailable = startTLSAvailable
        self.compressionAvailable = compressionAvailable
        self.maxMessageSize = maxMessageSize
        self.frameLimits = frameLimits
        self.maxCommandsPerSession = maxCommandsPerSession
        self.maxConsecutiveErrors = maxConsecutiveErrors
        self.maxFailedLogins = maxFailedLogins
        self.failedLoginDelay = failedLoginDelay
        self.maxFetchMessages = maxFetchMessages
        self.replicationAvailable = replicationAvailable
        self.replicaAck = replicaAck
        self.writeGate = writeGate
    }
}
