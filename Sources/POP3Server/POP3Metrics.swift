import Metrics

/// The POP3 server's metrics (Prometheus names via swift-metrics).
enum POP3Metrics {
    static let connections = Counter(label: "corvid_pop3_connections_total")
    static let activeConnections = Meter(label: "corvid_pop3_connections_active")
    static let logins = Counter(label: "corvid_pop3_logins_total")
    static let failedLogins = Counter(label: "corvid_pop3_login_failures_total")
    static let retrievedMessages = Counter(label: "corvid_pop3_retrieved_messages_total")
    static let retrievedBytes = Counter(label: "corvid_pop3_retrieved_bytes_total")
    static let deletedMessages = Counter(label: "corvid_pop3_deleted_messages_total")
}
