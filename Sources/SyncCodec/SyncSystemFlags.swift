/// The system flags a csync record carries, as Cyrus stores them (sync-protocol §3.2.2).
///
/// On the wire they come first in `FLAGS`, in Cyrus's order `\Deleted \Answered \Flagged
/// \Draft \Expunged \Seen`, then the user flags. They are read case-insensitively; unknown
/// `\xxx` flags are ignored, and `\Recent` is never sent.
public struct SyncSystemFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let deleted = SyncSystemFlags(rawValue: 1 << 0)
    public static let answered = SyncSystemFlags(rawValue: 1 << 1)
    public static let flagged = SyncSystemFlags(rawValue: 1 << 2)
    public static let draft = SyncSystemFlags(rawValue: 1 << 3)
    /// Expunged but still in the index (delayed expunge); never counted by SYNC_CRC.
    public static let expunged = SyncSystemFlags(rawValue: 1 << 4)
    public static let seen = SyncSystemFlags(rawValue: 1 << 5)
    /// Every system flag a record can carry.
    public static let all: SyncSystemFlags = [.deleted, .answered, .flagged, .draft, .expunged, .seen]

    /// Each flag with its wire name, in the order Cyrus writes them.
    public static let wireOrder: [(flag: SyncSystemFlags, name: String)] = [
        (.deleted, "\\Deleted"), (.answered, "\\Answered"), (.flagged, "\\Flagged"),
        (.draft, "\\Draft"), (.expunged, "\\Expunged"), (.seen, "\\Seen"),
    ]

    /// Splits a `FLAGS` list into system flags and user flags (keywords, in list order).
    ///
    /// ```
    /// flags = "(" [flag *(SP flag)] ")"
    /// flag  = "\" atom       ; system flag, case-insensitive; unknown ones ignored
    ///       / astring        ; user flag
    /// ```
    public static func parse(_ list: [DList]) -> (system: SyncSystemFlags, user: [String]) {
        var system: SyncSystemFlags = []
        var user: [String] = []
        for element in list {
            if case .flag(let name) = element {
                let lower = name.lowercased()
                if let known = wireOrder.first(where: { $0.name.lowercased() == lower }) { system.insert(known.flag) }
            } else if let text = element.textValue {
                user.append(text)
            }
        }
        return (system, user)
    }
}

// MARK: - Encoding

extension SyncSystemFlags {
    /// The `FLAGS` list as Cyrus writes it: system flags in ``wireOrder``, then `userFlags`.
    public func flagsList(userFlags: [String]) -> DList {
        var values: [DList] = Self.wireOrder.filter { contains($0.flag) }.map { .flag($0.name) }
        values += userFlags.map { .string($0) }
        return .list(values)
    }
}
