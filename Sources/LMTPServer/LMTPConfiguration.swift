/// Settings and named limits of the LMTP service.
public struct LMTPConfiguration: Sendable {
    /// The host name in the greeting, LHLO reply and Received headers (`servername`).
    public var serverName: String
    /// Named limit: largest message accepted, in bytes (`maxmessagesize`; Cyrus's key).
    public var maxMessageSize: Int
    /// Named limit: recipients in one transaction (`lmtp_max_recipients`).
    public var maxRecipients: Int
    /// Named limit: the longest command line (`lmtp_max_line_length`).
    public var maxCommandLine: Int
    /// Named limit: consecutive protocol errors before the session is closed (`lmtp_max_errors`).
    public var maxErrors: Int
    /// Lower-case recipient local parts before lookup (`lmtp_downcase_rcpt`, Cyrus's default on).
    public var downcaseRecipients: Bool

    public init(
        serverName: String,
        maxMessageSize: Int = 50 * 1024 * 1024,
        maxRecipients: Int = 1000,
        maxCommandLine: Int = 4096,
        maxErrors: Int = 50,
        downcaseRecipients: Bool = true
    ) {
        self.serverName = serverName
        self.maxMessageSize = maxMessageSize
        self.maxRecipients = maxRecipients
        self.maxCommandLine = maxCommandLine
        self.maxErrors = maxErrors
        self.downcaseRecipients = downcaseRecipients
    }
}
