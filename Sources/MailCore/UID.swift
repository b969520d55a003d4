/// A message's unique identifier within one mailbox (RFC 9051 §2.3.1.1).
///
/// UIDs are assigned in strictly ascending order and never reused while the mailbox's
/// ``UIDValidity`` stays the same. Zero is not a valid UID.
public struct UID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ value: UInt32) { self.rawValue = value }

    public static func < (lhs: UID, rhs: UID) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }
}

/// The UIDVALIDITY of a mailbox (RFC 9051 §2.3.1.1).
///
/// Invariant of the whole system: the UIDVALIDITY of an existing mailbox never changes —
/// not by failover, reconstruct, replication or migration.
public struct UIDValidity: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ value: UInt32) { self.rawValue = value }

    public static func < (lhs: UIDValidity, rhs: UIDValidity) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }

    /// Chooses a UIDVALIDITY for a new mailbox as Cyrus does: the current time in seconds,
    /// bumped past `previous` so that a re-created name never reuses an old value.
    public static func generate(now: Double, previous: UIDValidity? = nil) -> UIDValidity {
        var value = UInt32(clamping: Int64(now))
        if value == 0 { value = 1 }
        if let previous, value <= previous.rawValue { value = previous.rawValue &+ 1 }
        return UIDValidity(value)
    }
}

/// A modification sequence number (RFC 7162 §3.1.1). Only grows, per mailbox.
public struct ModSeq: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }

    public static func < (lhs: ModSeq, rhs: ModSeq) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }

    /// The next modseq after this one.
    public var next: ModSeq { ModSeq(rawValue &+ 1) }
}
