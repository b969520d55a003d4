/// The GUID of a stored message: the SHA-1 of its exact stored bytes, as Cyrus computes it.
///
/// The GUID names the message file in the content-addressed store and is what csync
/// compares and uploads. A record's GUID never changes.
public struct MessageGUID: Hashable, Sendable, CustomStringConvertible, Comparable {
    // The 20 digest bytes, big-endian, held inline: a session keeps one GUID per message of
    // its selected mailbox, and an array per GUID would be a heap allocation each.
    private let high: UInt64
    private let middle: UInt64
    private let low: UInt32

    /// The 20 digest bytes.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(20)
        for shift in stride(from: 56, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: high >> UInt64(shift)))
        }
        for shift in stride(from: 56, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: middle >> UInt64(shift)))
        }
        for shift in stride(from: 24, through: 0, by: -8) {
            out.append(UInt8(truncatingIfNeeded: low >> UInt32(shift)))
        }
        return out
    }

    /// Creates a GUID from exactly 20 digest bytes; returns nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 20 else { return nil }
        high = bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }
        middle = bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) }
        low = bytes[16..<20].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// Parses the 40-character lower- or upper-case hex form.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 40, let bytes = Hex.decode(hex) else { return nil }
        self.init(bytes: bytes)
    }

    /// The 40-character lower-case hex form used on disk and on the wire.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    public static func < (lhs: MessageGUID, rhs: MessageGUID) -> Bool {
        (lhs.high, lhs.middle, lhs.low) < (rhs.high, rhs.middle, rhs.low)
    }
}
