import Metrics

/// The csync server's metrics (Prometheus names via swift-metrics).
enum SyncMetrics {
    static let connections = Counter(label: "corvid_sync_server_connections_total")
    static let protocolErrors = Counter(label: "corvid_sync_server_protocol_errors_total")
    static let rejectedUploads = Counter(label: "corvid_sync_server_rejected_uploads_total")
    static let appliedMailboxes = Counter(label: "corvid_sync_server_applied_mailboxes_total")

    static func commands(_ key: String, kind: String) -> Counter {
        Counter(label: "corvid_sync_server_commands_total", dimensions: [("command", "\(kind) \(key)")])
    }

    static func failures(_ code: String) -> Counter {
        Counter(label: "corvid_sync_server_failures_total", dimensions: [("code", code)])
    }
}

/// The csync master's metrics.
enum SyncClientMetrics {
    /// Full-update decisions (copy-back, renumbering, GUID conflicts…), by kind.
    static func decisions(_ kind: FullMailboxMerge.Decision.Kind) -> Counter {
        Counter(label: "corvid_sync_client_merge_decisions_total", dimensions: [("decision", kind.rawValue)])
    }
}
