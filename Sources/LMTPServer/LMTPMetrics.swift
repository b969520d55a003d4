import Metrics

/// Metric handles of the LMTP service, created once (on first use, after the runtime has
/// bootstrapped the metrics system) rather than per message.
enum LMTPMetrics {
    static let connections = Counter(label: "corvid_lmtp_connections_total")
    static let activeConnections = Meter(label: "corvid_lmtp_connections_active")
    static let delivered = Counter(label: "corvid_lmtp_deliveries_total", dimensions: [("result", "ok")])
    static let deliveredBytes = Counter(label: "corvid_lmtp_delivered_bytes_total")
    static let deliverySeconds = Timer(label: "corvid_lmtp_delivery_seconds")
    /// `sync_ack: replica` deliveries taken back because no replica confirmed in time.
    static let replicaTimeouts = Counter(label: "corvid_lmtp_replica_ack_timeouts_total")

    /// Refused deliveries by store error code (rare: created on demand).
    static func refused(_ code: String) -> Counter {
        Counter(label: "corvid_lmtp_deliveries_total", dimensions: [("result", code)])
    }

    /// Replies of 400 and above by code (rare: created on demand).
    static func errorReply(_ code: Int) -> Counter {
        Counter(label: "corvid_lmtp_errors_total", dimensions: [("code", String(code))])
    }
}
