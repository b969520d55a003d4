import MailCore
import MailStore

/// Effective rights of a user on a mailbox (RFC 4314, Cyrus's letters).
///
/// The union of the user's entry and `anyone`, minus negative entries (`-name`); admins have
/// every right everywhere, as in Cyrus.
public struct AccessRights: Sendable {
    public let user: UserName
    public let isAdmin: Bool

    public init(user: UserName, isAdmin: Bool) {
        self.user = user
        self.isAdmin = isAdmin
    }

    public func rights(on mailbox: Mailbox) -> ACLRights {
        // Mailboxes a Cyrus master deleted in its `delete_mode: delayed` arrive by replication
        // as `DELETED.<name>.<hex time>`; as in Cyrus, only admins see them.
        if !isAdmin, mailbox.name.components.first == "DELETED" { return .none }
        return rights(in: mailbox.acl)
    }

    public func rights(in acl: ACL) -> ACLRights {
        if isAdmin { return .all }
        var rights = ACLRights.none
        for entry in acl.entries where entry.identifier == user.name || entry.identifier == "anyone" {
            rights = rights.union(entry.rights)
        }
        for entry in acl.entries where entry.identifier.hasPrefix("-") {
            let identifier = entry.identifier.dropFirst()
            if identifier == user.name || identifier == "anyone" { rights = rights.subtracting(entry.rights) }
        }
        return rights
    }

    /// Whether `right` is granted.
    public func has(_ right: Character, on mailbox: Mailbox) -> Bool { rights(on: mailbox).contains(right) }
}
