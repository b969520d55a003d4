/// A message flag: one of the RFC 9051 system flags or a keyword.
///
/// Keywords are compared case-insensitively (RFC 9051 §2.3.2); the spelling first
/// seen is kept for display.
public struct Flag: Hashable, Sendable, CustomStringConvertible {
    /// The flag as it is written on the wire, e.g. `\Seen` or `$Forwarded`.
    public let name: String

    public static let seen = Flag(uncheckedName: "\\Seen")
    public static let answered = Flag(uncheckedName: "\\Answered")
    public static let flagged = Flag(uncheckedName: "\\Flagged")
    public static let deleted = Flag(uncheckedName: "\\Deleted")
    public static let draft = Flag(uncheckedName: "\\Draft")

    /// The system flags a record stores as bits.
    public static let systemFlags: [Flag] = [.answered, .flagged, .deleted, .seen, .draft]

    private init(uncheckedName: String) { self.name = uncheckedName }

    /// Validates a flag: a known system flag (any case) or an atom keyword.
    /// `\Recent` is not storable and is rejected, as RFC 9051 removes it.
    public init?(_ text: String) {
        if text.first == "\\" {
            guard let system = Flag.systemFlags.first(where: { $0.name.lowercased() == text.lowercased() }) else {
                return nil
            }
            self = system
            return
        }
        guard !text.isEmpty, text.utf8.count <= Flag.maxKeywordLength,
            text.utf8.allSatisfy(Flag.isAtomChar)
        else { return nil }
        self.name = text
    }

    /// Whether this is one of the system flags.
    public var isSystem: Bool { name.first == "\\" }

    /// The bit this system flag occupies in a record's system-flag mask, or nil for keywords.
    public var systemBit: Int? {
        Flag.systemFlags.firstIndex(of: self).map { 1 << $0 }
    }

    public var description: String { name }

    public static func == (lhs: Flag, rhs: Flag) -> Bool { lhs.name.lowercased() == rhs.name.lowercased() }
    public func hash(into hasher: inout Hasher) { hasher.combine(name.lowercased()) }

    /// Named limit on one keyword's length in bytes.
    public static let maxKeywordLength = 256

    /// RFC 9051 ATOM-CHAR less the flag-forbidden `]`.
    static func isAtomChar(_ c: UInt8) -> Bool {
        guard c > 0x20, c < 0x7f else { return false }
        switch c {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "%"),
            UInt8(ascii: "*"), UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "]"):
            return false
        default:
            return true
        }
    }
}

/// The flags of one record: system flags as a bit mask plus a set of keywords.
public struct FlagSet: Hashable, Sendable {
    public var systemMask: Int
    public var keywords: [Flag]

    public init(systemMask: Int = 0, keywords: [Flag] = []) {
        self.systemMask = systemMask
        self.keywords = []
        for keyword in keywords where !self.keywords.contains(keyword) { self.keywords.append(keyword) }
    }

    public init(_ flags: [Flag]) {
        self.init()
        for flag in flags { insert(flag) }
    }

    public func contains(_ flag: Flag) -> Bool {
        if let bit = flag.systemBit { return systemMask & bit != 0 }
        return keywords.contains(flag)
    }

    public mutating func insert(_ flag: Flag) {
        if let bit = flag.systemBit {
            systemMask |= bit
        } else if !keywords.contains(flag) {
            keywords.append(flag)
        }
    }

    public mutating func remove(_ flag: Flag) {
        if let bit = flag.systemBit {
            systemMask &= ~bit
        } else {
            keywords.removeAll { $0 == flag }
        }
    }

    /// All flags, system flags first in a stable order.
    public var all: [Flag] {
        Flag.systemFlags.filter { contains($0) } + keywords
    }

    /// Keywords as one space-separated string, the form the store keeps.
    public var keywordString: String { keywords.map(\.name).joined(separator: " ") }

    /// Rebuilds a flag set from its stored form; unparseable keywords are dropped.
    public init(systemMask: Int, keywordString: String) {
        self.init(
            systemMask: systemMask,
            keywords: keywordString.split(separator: " ").compactMap { Flag(String($0)) }
        )
    }
}
