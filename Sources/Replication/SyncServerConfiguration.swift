import SyncCodec

/// What the replica side of csync needs from the server's configuration (Cyrus key names).
public struct SyncServerConfiguration: Sendable {
    /// `servername`: shown in the banner.
    public var serverName: String
    /// `admins`: only they may replicate (sync-protocol §1.4).
    public var admins: Set<String>
    /// `allowplaintext`: SASL PLAIN before TLS.
    public var allowPlaintext: Bool
    /// Whether STARTTLS can be offered (a TLS context exists).
    public var startTLSAvailable: Bool
    /// Whether COMPRESS DEFLATE can be offered.
    public var compressionAvailable: Bool
    /// The partitions this server has (`partition-NAME`); uploads to others are refused.
    public var partitions: Set<String>
    /// Named limits of the decoder (line, literal, file literal, nesting, items, command size).
    public var limits: SyncLimits
    /// Named limit: failed AUTHENTICATEs before the connection is closed.
    public var maxFailedLogins: Int
    /// Delay after each failed AUTHENTICATE, doubling per failure (seconds), capped at 8 s.
    public var failedLoginDelay: Double
    /// Named limit: message files one connection may hold staged (uploaded, not yet applied).
    public var maxStagedMessages: Int
    /// Offer `X-CORVID-PROMOTE` (a Corvid extension for `corvid failover`, only ever sent to
    /// a replica whose banner lists it): an admin master hands this store the master role.
    public var promotionAvailable: Bool

    public init(
        serverName: String = "localhost",
        admins: Set<String> = [],
        allowPlaintext: Bool = false,
        startTLSAvailable: Bool = false,
        compressionAvailable: Bool = false,
        partitions: Set<String> = ["default"],
        limits: SyncLimits = SyncLimits(),
        maxFailedLogins: Int = 5,
        failedLoginDelay: Double = 1,
        maxStagedMessages: Int = 100_000,
        promotionAvailable: Bool = false
    ) {
        self.serverName = serverName
        self.admins = admins
        self.allowPlaintext = allowPlaintext
        self.startTLSAvailable = startTLSAvailable
        self.compressionAvailable = compressionAvailable
        self.partitions = partitions
        self.limits = limits
        self.maxFailedLogins = maxFailedLogins
        self.failedLoginDelay = failedLoginDelay
        self.maxStagedMessages = maxStagedMessages
        self.promotionAvailable = promotionAvailable
    }
}
