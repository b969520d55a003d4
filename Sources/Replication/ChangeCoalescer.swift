import MailStore

/// Turns a batch of change-feed events into the work a channel does (sync-protocol §6.2's
/// table and §6.3 step 4), with no I/O.
///
/// | change | work |
/// |---|---|
/// | append, flags, expunge, mailbox create/delete/meta, annotation | the mailbox, in its owner's group (`MAILBOX`, `UNMAILBOX`) |
/// | mailbox rename | both names, in both owners' groups (`RENAME`) |
/// | quota | the root (`QUOTA`) |
/// | seen | the user's seen entry for that uniqueid (`SEEN`) |
/// | subscription | the user's subscription to that name (`SUB`) |
/// | user create | a full user sync (`USER`) |
/// | user delete | the user removed on the replica (`UNUSER`) |
/// | annotation on mailbox `""` | the server annotations (`ANNOTATION ""`) |
///
/// Duplicates collapse; a full sync or removal of a user makes its seen and subscription
/// entries redundant (they are dropped, as sync_client does).
public enum ChangeCoalescer {
    public static func work(for events: some Sequence<ChangeEvent>) -> ReplicationWork {
        var work = ReplicationWork()
        for event in events {
            switch event.kind {
            case .annotation where event.mailbox == "":
                work.serverAnnotations = true
            case .append, .flags, .expunge, .mailboxCreate, .mailboxDelete, .mailboxMeta, .annotation:
                if let mailbox = event.mailbox { work.addMailbox(mailbox) }
            case .mailboxRename:
                guard let mailbox = event.mailbox else { continue }
                let names = [event.previousMailbox, mailbox].compactMap { $0 }
                // Both names in every group concerned, so each group's GET MAILBOXES finds the
                // replica's mailbox under its old name and renames it.
                for owner in Set(names.map(ReplicationWork.owner(of:))) {
                    work.mailboxGroups[owner, default: []].formUnion(names)
                }
            case .quota:
                if let root = event.mailbox { work.quotaRoots.insert(root) }
            case .seen:
                if let user = event.user, let uniqueID = event.mailboxUniqueID {
                    work.seen.insert(.init(user: user, uniqueID: uniqueID))
                }
            case .subscription:
                if let user = event.user, let mailbox = event.mailbox {
                    work.subscriptions.insert(.init(user: user, mailbox: mailbox))
                }
            case .userCreate:
                if let user = event.user { work.users.insert(user) }
            case .userDelete:
                if let user = event.user { work.deletedUsers.insert(user) }
            }
        }
        let covered = work.users.union(work.deletedUsers)
        work.seen = work.seen.filter { !covered.contains($0.user) }
        work.subscriptions = work.subscriptions.filter { !covered.contains($0.user) }
        return work
    }
}
