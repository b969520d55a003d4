/// The GUID of a stored message: the SHA-1 of its exact stored bytes, as Cyrus computes it.
///
/// The GUID names the message file in the content-addressed store and is what csync
/// compares and uploads. A record's GUID never changes.
public struct MessageGUID: Hashable, Sendable, CustomStringConvertible, Comparable {
    /// The 20 digest bytes.
    public let bytes: [UInt8]

    /// Creates a GUID from exactly 20 digest bytes; returns nil for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 20 else { return nil }
        self.bytes = bytes
    }

    /// Parses the 40-character lower- or upper-case hex form.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 40, let bytes = Hex.decode(hex) else { return nil }
        self.bytes = bytes
    }

    /// The 40-character lower-case hex form used on disk and on the wire.
    public var hex: String { Hex.encode(bytes) }

    public var description: String { hex }

    public static func < (lhs: MessageGUID, rhs: MessageGUID) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}
