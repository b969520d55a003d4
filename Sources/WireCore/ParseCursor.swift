/// A cursor over the bytes of one protocol line, for hand-written recursive-descent parsers.
///
/// Every `parse…` helper either consumes a whole production and returns it, or consumes nothing
/// and returns nil, so callers can try alternatives.
public struct ParseCursor: Sendable {
    public let bytes: [UInt8]
    public private(set) var position: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.position = 0
    }

    public var isAtEnd: Bool { position >= bytes.count }
    public var remaining: ArraySlice<UInt8> { bytes[position...] }
    public func peek() -> UInt8? { isAtEnd ? nil : bytes[position] }

    /// Consumes `literal` if the input continues with it, ASCII case-insensitively.
    public mutating func consume(caseInsensitive literal: String) -> Bool {
        let expected = Array(literal.utf8)
        guard bytes.count - position >= expected.count else { return false }
        for (offset, byte) in expected.enumerated() where Self.lower(bytes[position + offset]) != Self.lower(byte) {
            return false
        }
        position += expected.count
        return true
    }

    /// Consumes one byte if it equals `byte`.
    public mutating func consume(_ byte: UInt8) -> Bool {
        guard peek() == byte else { return false }
        position += 1
        return true
    }

    /// Consumes the longest run of bytes satisfying `predicate` (possibly empty).
    public mutating func consume(while predicate: (UInt8) -> Bool) -> ArraySlice<UInt8> {
        let start = position
        while position < bytes.count, predicate(bytes[position]) { position += 1 }
        return bytes[start..<position]
    }

    /// Consumes everything left.
    public mutating func consumeRest() -> ArraySlice<UInt8> {
        defer { position = bytes.count }
        return bytes[position...]
    }

    /// Restores a saved position (for backtracking after a failed alternative).
    public mutating func reset(to saved: Int) { position = saved }

    static func lower(_ byte: UInt8) -> UInt8 {
        (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) ? byte | 0x20 : byte
    }
}
