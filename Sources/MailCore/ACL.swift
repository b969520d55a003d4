/// A set of access rights, in Cyrus's letters (RFC 4314 plus Cyrus's own).
///
/// `l` lookup, `r` read, `s` keep seen, `w` write flags, `i` insert, `p` post,
/// `k` create mailboxes, `x` delete mailbox, `t` delete messages, `e` expunge,
/// `c`/`d` the RFC 2086 legacy aliases, `a` administer, `n` write annotations.
public struct ACLRights: Hashable, Sendable, CustomStringConvertible {
    /// Every right letter in Cyrus's canonical order.
    public static let canonicalOrder: [Character] = Array("lrswipkxtecdan")

    /// One bit per letter, by its position in ``canonicalOrder``: rights are parsed from every
    /// mailbox row a session reads.
    private var bits: UInt16

    /// Parses rights letters; unknown letters are rejected.
    public init?(_ text: String) {
        var bits: UInt16 = 0
        for byte in text.utf8 {
            guard let bit = Self.bit(ascii: byte) else { return nil }
            bits |= bit
        }
        self.bits = bits
    }

    private init(bits: UInt16) { self.bits = bits }

    /// The bit of an ASCII right letter; nil for anything else.
    private static func bit(ascii byte: UInt8) -> UInt16? {
        guard let position = canonicalBytes.firstIndex(of: byte) else { return nil }
        return 1 << UInt16(position)
    }

    private static let canonicalBytes: [UInt8] = Array("lrswipkxtecdan".utf8)

    /// All rights, as Cyrus grants a mailbox owner.
    public static let all = ACLRights("lrswipkxtecdan")!
    /// No rights.
    public static let none = ACLRights("")!

    public func contains(_ right: Character) -> Bool {
        guard let byte = right.asciiValue, let bit = Self.bit(ascii: byte) else { return false }
        return bits & bit != 0
    }

    /// The rights in either.
    public func union(_ other: ACLRights) -> ACLRights { ACLRights(bits: bits | other.bits) }

    /// These rights without `other`'s.
    public func subtracting(_ other: ACLRights) -> ACLRights { ACLRights(bits: bits & ~other.bits) }

    public var description: String { String(ACLRights.canonicalOrder.filter { contains($0) }) }
}

/// A mailbox's access control list: identifier → rights, in insertion order.
///
/// Stored and replicated in Cyrus's form: `id<TAB>rights<TAB>` repeated.
public struct ACL: Hashable, Sendable, CustomStringConvertible {
    public private(set) var entries: [(identifier: String, rights: ACLRights)]

    public init(entries: [(identifier: String, rights: ACLRights)] = []) { self.entries = entries }

    /// Parses Cyrus's tab-separated form; nil if malformed.
    public init?(cyrusString: String) {
        let parts = cyrusString.split(separator: "\t", omittingEmptySubsequences: false)
        var entries: [(String, ACLRights)] = []
        var index = 0
        while index + 1 < parts.count {
            guard !parts[index].isEmpty, let rights = ACLRights(String(parts[index + 1])) else { return nil }
            entries.append((String(parts[index]), rights))
            index += 2
        }
        // A well-formed string ends with a tab, leaving one trailing empty part.
        guard index == parts.count || (index == parts.count - 1 && parts[index].isEmpty) else { return nil }
        self.entries = entries
    }

    /// The default ACL of a user's mailbox: the owner has every right.
    public static func owner(_ user: UserName) -> ACL { ACL(entries: [(user.name, .all)]) }

    /// The rights granted to `identifier`, if it has an entry.
    public func rights(for identifier: String) -> ACLRights? {
        entries.first { $0.identifier == identifier }?.rights
    }

    /// Sets (or with nil removes) the entry for `identifier`.
    public mutating func set(_ identifier: String, _ rights: ACLRights?) {
        entries.removeAll { $0.identifier == identifier }
        if let rights { entries.append((identifier, rights)) }
    }

    public var cyrusString: String { entries.map { "\($0.identifier)\t\($0.rights)\t" }.joined() }
    public var description: String { cyrusString }

    public static func == (lhs: ACL, rhs: ACL) -> Bool { lhs.cyrusString == rhs.cyrusString }
    public func hash(into hasher: inout Hasher) { hasher.combine(cyrusString) }
}
