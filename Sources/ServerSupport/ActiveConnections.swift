import Metrics
import Synchronization

/// Counts open connections per service and mirrors the count into a gauge.
public final class ActiveConnections: Sendable {
    public static let lmtp = ActiveConnections()
    public static let http = ActiveConnections()

    private let count = Atomic<Int>(0)

    public init() {}

    public var current: Int { count.load(ordering: .relaxed) }

    public func change(by delta: Int, gauge: Gauge) {
        let value = count.add(delta, ordering: .relaxed).newValue
        gauge.record(value)
    }
}
