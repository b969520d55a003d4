import MailCore
import MailStore
import Metrics

/// One channel's metrics (dimension `channel`): backlog, lag, last success, failures by
/// error code and quarantined items.
struct RollingReplicationMetrics: Sendable {
    let channel: String
    /// `corvid_sync_backlog_entries`: changes committed and not yet replicated.
    let backlog: Gauge
    /// `corvid_sync_lag_seconds`: age of the oldest change not yet replicated (0 when none).
    let lag: Gauge
    /// `corvid_sync_last_success_timestamp_seconds`: when the channel last committed a batch.
    let lastSuccess: Gauge
    /// `corvid_sync_quarantined_items`: items set aside.
    let quarantined: Gauge
    /// `corvid_sync_failing_items`: items failing (retrying or quarantined).
    let failing: Gauge

    init(channel: String) {
        self.channel = channel
        let dimensions = [("channel", channel)]
        backlog = Gauge(label: "corvid_sync_backlog_entries", dimensions: dimensions)
        lag = Gauge(label: "corvid_sync_lag_seconds", dimensions: dimensions)
        lastSuccess = Gauge(label: "corvid_sync_last_success_timestamp_seconds", dimensions: dimensions)
        quarantined = Gauge(label: "corvid_sync_quarantined_items", dimensions: dimensions)
        failing = Gauge(label: "corvid_sync_failing_items", dimensions: dimensions)
    }

    /// `corvid_sync_failures_total{channel,code}`: failed connections, batches and items,
    /// by error code (`connect`, `connectionClosed`, `commandRefused`, `storeFailure`, …).
    func failed(_ code: String, count: Int = 1) {
        Counter(label: "corvid_sync_failures_total", dimensions: [("channel", channel), ("code", code)])
            .increment(by: count)
    }

    func update(feed: ChangeFeedPosition, cursor: Int64, now: UnixTime) {
        backlog.record(max(0, feed.newest - cursor))
        lag.record(feed.oldestPendingTime.map { max(0, now - $0) } ?? 0)
    }

    func update(failures: [ReplicationFailure]) {
        quarantined.record(failures.filter(\.quarantined).count)
        failing.record(failures.count)
    }
}
