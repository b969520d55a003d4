import Metrics

/// The IMAP server's metrics (Prometheus names via swift-metrics).
enum IMAPMetrics {
    static let connections = Counter(label: "corvid_imap_connections_total")
    static let activeConnections = Meter(label: "corvid_imap_connections_active")
    static let logins = Counter(label: "corvid_imap_logins_total")
    static let failedLogins = Counter(label: "corvid_imap_login_failures_total")
    static let appends = Counter(label: "corvid_imap_appended_messages_total")
    static let fetchedBytes = Counter(label: "corvid_imap_fetched_bytes_total")
}
