import MailStore

/// What became of a batch's items: each attempted one, and why those that failed did.
public struct ReplicationOutcome: Hashable, Sendable {
    public var attempted: Set<ReplicationItem> = []
    public var failed: [ReplicationItem: String] = [:]

    public init(attempted: Set<ReplicationItem> = [], failed: [ReplicationItem: String] = [:]) {
        self.attempted = attempted
        self.failed = failed
    }
}
