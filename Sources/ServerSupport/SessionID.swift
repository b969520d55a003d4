import Synchronization

/// Short unique session identifiers for logs and trace headers, e.g. `cv-1a2b3c-42`.
public enum SessionID {
    private static let counter = Atomic<UInt64>(0)
    private static let prefix: String = {
        var generator = SystemRandomNumberGenerator()
        return String(UInt32.random(in: 0...UInt32.max, using: &generator), radix: 36)
    }()

    public static func next() -> String {
        "cv-\(prefix)-\(counter.add(1, ordering: .relaxed).newValue)"
    }
}
