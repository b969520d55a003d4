import MailCore

/// Maps between the names a client sees and internal names, as Cyrus 3.6 presents them.
///
/// With `altnamespace: yes` (the default) a user's folders sit at the top level beside
/// `INBOX`, other users' under `Other Users/`, shared ones under `Shared Folders/`. With
/// `altnamespace: no`, and always for admins (as in Cyrus), the standard namespace applies:
/// `INBOX/Sent`, `user/bob`, shared folders at the top. With `unixhierarchysep: yes` the
/// separator is `/` and a `.` inside a name is kept internally as `^`.
///
/// ```
/// alice, alt:   INBOX ↔ user.alice   Sent ↔ user.alice.Sent   a.b/c ↔ user.alice.a^b.c
///               Other Users/bob ↔ user.bob   Shared Folders/news ↔ news
/// admin, std:   user/bob/Sent ↔ user.bob.Sent   news ↔ news
/// ```
public struct MailboxNamespace: Sendable {
    public let user: UserName
    public let alternate: Bool
    public let separator: Character

    public init(user: UserName, isAdmin: Bool, altNamespace: Bool, unixHierarchySep: Bool) {
        self.user = user
        self.alternate = altNamespace && !isAdmin
        self.separator = unixHierarchySep ? "/" : "."
    }

    /// The prefix of other users' mailboxes, e.g. `Other Users/`.
    public var otherUsersPrefix: String { (alternate ? "Other Users" : "user") + String(separator) }
    /// The prefix of shared mailboxes, e.g. `Shared Folders/` (empty in the standard namespace).
    public var sharedPrefix: String { alternate ? "Shared Folders" + String(separator) : "" }
    /// The prefix of the user's own folders other than INBOX.
    public var personalPrefix: String { alternate ? "" : "INBOX" + String(separator) }

    /// The user's INBOX.
    public var inbox: MailboxName { .inbox(of: user) }

    /// The internal name for a client's name, or nil when it names nothing valid.
    public func internalName(for client: String) -> MailboxName? {
        guard !client.isEmpty else { return nil }
        if client.uppercased() == "INBOX" { return inbox }
        let sep = String(separator)
        func components(_ text: Substring) -> [String]? {
            let parts = text.split(separator: separator, omittingEmptySubsequences: false)
            guard !parts.contains(where: \.isEmpty) else { return nil }
            return parts.map { separator == "/" ? String($0).replacing(".", with: "^") : String($0) }
        }
        func build(_ parts: [String]) -> MailboxName? { try? MailboxName(internal: parts.joined(separator: ".")) }

        if client.hasPrefix(otherUsersPrefix) {
            guard let parts = components(client.dropFirst(otherUsersPrefix.count)),
                let owner = try? UserName(parts[0].replacing("^", with: "."))
            else { return nil }
            return build(["user", owner.internalComponent] + parts.dropFirst())
        }
        if alternate {
            if client.hasPrefix(sharedPrefix) {
                guard let parts = components(client.dropFirst(sharedPrefix.count)), parts.first != "user" else {
                    return nil
                }
                return build(parts)
            }
            // INBOX's children are not addressable in the alternate namespace (Cyrus: they
            // are the top-level folders themselves).
            if client.uppercased().hasPrefix("INBOX" + sep) { return nil }
            guard let parts = components(client[...]) else { return nil }
            return build(["user", user.internalComponent] + parts)
        }
        if client.uppercased().hasPrefix("INBOX" + sep) {
            guard let parts = components(client.dropFirst(6)) else { return nil }
            return build(["user", user.internalComponent] + parts)
        }
        guard let parts = components(client[...]), parts.first != "user" else { return nil }
        return build(parts)
    }

    /// The client's name for an internal name.
    public func clientName(for name: MailboxName) -> String {
        let parts = name.components.map(String.init)
        func external(_ parts: ArraySlice<String>) -> String {
            parts.map { separator == "/" ? $0.replacing("^", with: ".") : $0 }.joined(separator: String(separator))
        }
        if parts.count >= 2, parts[0] == "user" {
            if parts[1] == user.internalComponent {
                if parts.count == 2 { return "INBOX" }
                return personalPrefix + external(parts[2...])
            }
            let owner = parts[1].replacing("^", with: ".")
            let rest = parts.count > 2 ? String(separator) + external(parts[2...]) : ""
            return otherUsersPrefix + owner + rest
        }
        return sharedPrefix + external(parts[...])
    }
}
