import MailCore
import MailStore

/// What one rolling-replication batch has to do, coalesced from the change feed
/// (sync-protocol §6.3 steps 4–5), in the order a channel executes it: mailbox groups, quota
/// roots, seen entries, subscriptions, users, then deleted users.
public struct ReplicationWork: Hashable, Sendable {
    /// A user's (non-owner) seen entry on a mailbox, by the mailbox's uniqueid (log entry `SEEN`).
    public struct SeenEntry: Hashable, Sendable, Comparable {
        public var user: String
        public var uniqueID: String

        public init(user: String, uniqueID: String) {
            self.user = user
            self.uniqueID = uniqueID
        }

        public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.user, lhs.uniqueID) < (rhs.user, rhs.uniqueID) }
    }

    /// A user's subscription to a mailbox (log entry `SUB`): whichever state it has now is sent.
    public struct SubscriptionEntry: Hashable, Sendable, Comparable {
        public var user: String
        public var mailbox: String

        public init(user: String, mailbox: String) {
            self.user = user
            self.mailbox = mailbox
        }

        public static func < (lhs: Self, rhs: Self) -> Bool { (lhs.user, lhs.mailbox) < (rhs.user, rhs.mailbox) }
    }

    /// Mailbox internal names per owning user (`""` for mailboxes outside `user.`), each
    /// group synced together with one `GET MAILBOXES` so renames inside it are seen.
    public var mailboxGroups: [String: Set<String>] = [:]
    /// Quota roots whose limits changed (log entry `QUOTA`).
    public var quotaRoots: Set<String> = []
    public var seen: Set<SeenEntry> = []
    public var subscriptions: Set<SubscriptionEntry> = []
    /// Users for a full user sync (log entry `USER`).
    public var users: Set<String> = []
    /// Users deleted here (log entry `UNUSER`): removed on the replica unless they exist again.
    public var deletedUsers: Set<String> = []
    /// Server-level annotations changed (log entry `ANNOTATION ""`). Tracked as the item
    /// ``ReplicationItem/server``.
    public var serverAnnotations = false

    public init() {}

    public var isEmpty: Bool {
        mailboxGroups.isEmpty && quotaRoots.isEmpty && seen.isEmpty && subscriptions.isEmpty && users.isEmpty
            && deletedUsers.isEmpty && !serverAnnotations
    }

    /// The items whose success or failure a channel tracks: every mailbox and every user.
    /// Quota, seen and subscription entries that fail are promoted to their user.
    public var items: Set<ReplicationItem> {
        var items: Set<ReplicationItem> = []
        for names in mailboxGroups.values { for name in names { items.insert(ReplicationItem(.mailbox, name)) } }
        for user in users.union(deletedUsers) { items.insert(ReplicationItem(.user, user)) }
        if serverAnnotations { items.insert(.server) }
        return items
    }

    /// Adds a mailbox to its owner's group.
    public mutating func addMailbox(_ name: String) {
        mailboxGroups[Self.owner(of: name), default: []].insert(name)
    }

    /// The work that syncs these items again (a retry): mailboxes in their groups, users in full.
    public init(retrying items: some Sequence<ReplicationItem>) {
        for item in items {
            switch item.kind {
            case .mailbox where item == .server: serverAnnotations = true
            case .mailbox: addMailbox(item.name)
            case .user: users.insert(item.name)
            }
        }
    }

    /// This work without the given items (those set aside in quarantine).
    public func removing(_ excluded: Set<ReplicationItem>) -> ReplicationWork {
        guard !excluded.isEmpty else { return self }
        var work = self
        for (owner, names) in mailboxGroups {
            let kept = names.filter { !excluded.contains(ReplicationItem(.mailbox, $0)) }
            work.mailboxGroups[owner] = kept.isEmpty ? nil : kept
        }
        work.users = users.filter { !excluded.contains(ReplicationItem(.user, $0)) }
        work.deletedUsers = deletedUsers.filter { !excluded.contains(ReplicationItem(.user, $0)) }
        work.serverAnnotations = serverAnnotations && !excluded.contains(.server)
        return work
    }

    /// The user owning a mailbox by its internal name (`user.alice.Sent` → `alice`), `""`
    /// for any other mailbox.
    static func owner(of name: String) -> String {
        (try? MailboxName(internal: name))?.owner?.name ?? ""
    }
}
