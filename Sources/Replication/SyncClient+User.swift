import Logging
import MailCore
import MailStore
import SyncCodec

/// What `GET USER` reported (sync-protocol §3.3.1).
struct ReplicaUserState {
    var mailboxes: [ReplicaMailboxSummary] = []
    var quotas: [String: QuotaRoot] = [:]
    var seen: [String: SeenState] = [:]
    var subscriptions: Set<String> = []

    init(_ reply: SyncClientReply) {
        for item in reply.data {
            switch item.key {
            case "MAILBOX":
                if let mailbox = ReplicaWire.replicaMailbox(from: item.value) { mailboxes.append(mailbox) }
            case "QUOTA":
                if let root = ReplicaWire.quotaRoot(from: item.value) { quotas[root.root] = root }
            case "SEEN":
                if let (uniqueID, state) = ReplicaWire.seen(from: item.value) { seen[uniqueID] = state }
            case "LSUB":
                for name in item.value.listValue ?? [] { if let text = name.textValue { subscriptions.insert(text) } }
            default:
                continue  // SIEVE: Corvid keeps no scripts yet
            }
        }
    }
}

extension SyncClientRunner {
    /// Named limit: GET USER rounds after renames before giving up (Cyrus: 3).
    static var renameRounds: Int { 3 }

    /// One user (§5.1): GET USER; replica mailboxes deleted here (tombstones) deleted there,
    /// others never known here copied back (or, if their name is taken, kept and reported);
    /// renames by uniqueid (then
    /// GET USER again); reserve; each mailbox's contents; quota; subscriptions; seen state.
    func syncUser(_ user: UserName) async throws {
        let inbox = MailboxName.inbox(of: user)
        var remote = ReplicaUserState(try await expectOK(.get(.init("USER", .string(user.name)))))
        var local = try await storeCall { () async throws(MailStoreError) in try await store.mailboxes(under: inbox) }
        guard let localInbox = local.first(where: { $0.name == inbox }) else {
            // As sync_client: a user without an INBOX is skipped, nothing is deleted (§5.1 step 3).
            note("user \(user.name) has no INBOX here; skipped")
            return
        }
        var round = 0
        while true {
            var localIDs = Set(local.map(\.uniqueID))
            let replicaOnly = remote.mailboxes.filter { !localIDs.contains($0.uniqueID) }
            let deletedHere = try await storeCall { () async throws(MailStoreError) in
                try await store.deletedMailboxes(uniqueIDs: replicaOnly.map(\.uniqueID))
            }
            var copied = false
            for mailbox in replicaOnly {
                if deletedHere.contains(mailbox.uniqueID) {
                    try await deleteReplicaOnly(mailbox)
                } else if try await copyBackIfFree(mailbox, of: user, partition: localInbox.partition, local: local) {
                    copied = true
                }
            }
            if copied {
                local = try await storeCall { () async throws(MailStoreError) in try await store.mailboxes(under: inbox)
                }
                localIDs = Set(local.map(\.uniqueID))
            }
            remote.mailboxes.removeAll { !localIDs.contains($0.uniqueID) }
            let renames = plannedRenames(local: local, remote: remote.mailboxes)
            guard !renames.isEmpty else { break }
            round += 1
            guard round <= Self.renameRounds else {
                throw SyncClientError(.commandRefused, "renames did not converge after \(Self.renameRounds) rounds")
            }
            try await rename(renames)
            remote = ReplicaUserState(try await expectOK(.get(.init("USER", .string(user.name)))))
        }
        try await updateMailboxes(local.map(\.name), remote: remote.mailboxes)
        try await syncQuotas(local: local, remote: remote.quotas)
        try await syncSubscriptions(user, remote: remote.subscriptions)
        try await syncSeen(user, remote: remote.seen)
    }

    /// A replica mailbox never known here (created there while it was apart or serving as
    /// master, issue 6 (e)): copied here whole, with the replica's identity (uniqueid,
    /// UIDVALIDITY, UIDs, flags, annotations), so it exists on both sides. Left alone and
    /// reported when its name is taken here by another mailbox, or it is a deleted one
    /// (`DELETED.*`). Returns whether it was copied.
    func copyBackIfFree(
        _ mailbox: ReplicaMailboxSummary,
        of user: UserName,
        partition: String,
        local: [Mailbox]
    ) async throws -> Bool {
        guard let name = try? MailboxName(internal: mailbox.name), name.owner == user, mailbox.type.isEmpty else {
            note("replica-only mailbox \(mailbox.name) (\(mailbox.uniqueID)) kept there: not one to copy back")
            return false
        }
        if local.contains(where: { $0.name == name }) {
            note(
                "replica-only mailbox \(mailbox.name) (\(mailbox.uniqueID)) kept there: the name is another "
                    + "mailbox here; left for an administrator"
            )
            SyncClientMetrics.decisions(.mailboxConflict).increment()
            conflicts.append(
                "\(mailbox.name): a different mailbox of this name on each side; the replica's was kept there"
            )
            return false
        }
        let count = try await copyBackMailbox(mailbox.name, partition: partition)
        note("replica-only mailbox \(mailbox.name) (\(mailbox.uniqueID)) copied back with \(count) messages")
        SyncClientMetrics.decisions(.mailboxCopiedBack).increment()
        return true
    }

    /// `GET FULLMAILBOX`, read as the APPLY MAILBOX payload it is (§3.2.1), the messages this
    /// store lacks fetched, and the whole mailbox created here in one transaction. Returns the
    /// number of live messages.
    func copyBackMailbox(_ name: String, partition: String) async throws -> Int {
        let command = SyncCommand.get(.init("FULLMAILBOX", .string(name)))
        let reply = try await expectOK(command)
        guard let item = reply.values("MAILBOX").first?.kvlistValue else {
            throw SyncClientError(.commandRefused, "GET FULLMAILBOX \(name): the reply has no MAILBOX")
        }
        var update: ReplicaMailboxUpdate
        do {
            update = try ReplicaWire.mailboxApply(item, force: false).update
        } catch {
            throw SyncClientError(.commandRefused, "GET FULLMAILBOX \(name): \(error.detail)")
        }
        update.mailbox.partition = partition
        update.expectedHighestModSeq = ModSeq(0)
        let live = update.records.filter { !$0.isExpunged }
        try await applyLocally(update, fetching: live, from: update.mailbox)
        return live.count
    }

    /// `-m`: GET MAILBOXES, reserve, then each mailbox's contents.
    func syncMailboxes(_ names: [MailboxName]) async throws {
        let reply = try await expectOK(.get(.init("MAILBOXES", .list(names.map { .string($0.internalName) }))))
        let remote = reply.values("MAILBOX").compactMap(ReplicaWire.replicaMailbox(from:))
        try await updateMailboxes(names, remote: remote)
    }

    /// A replica mailbox whose uniqueid was deleted here (its tombstone): `APPLY UNMAILBOX`; a
    /// replica that no longer has it is fine.
    func deleteReplicaOnly(_ mailbox: ReplicaMailboxSummary) async throws {
        logger.info(
            "csync: replica-only mailbox, deleting",
            metadata: ["mailbox": "\(mailbox.name)", "uniqueid": "\(mailbox.uniqueID)"]
        )
        let command = SyncCommand.apply(.init("UNMAILBOX", .string(mailbox.name)))
        let reply = try await connection.send(command)
        guard reply.status.kind == .ok || reply.status.code == .mailboxNonexistent else {
            throw refused(command, reply.status)
        }
    }

    /// Pairs with the same uniqueid and different names, ordered so that no rename targets a
    /// name another pending rename still has to vacate (§5.1 step 4.4); parents first.
    func plannedRenames(local: [Mailbox], remote: [ReplicaMailboxSummary]) -> [(from: String, to: String, box: Mailbox)]
    {
        let byID = Dictionary(remote.map { ($0.uniqueID, $0) }, uniquingKeysWith: { first, _ in first })
        return local.compactMap { box in
            guard let replica = byID[box.uniqueID], replica.name != box.name.internalName else { return nil }
            return (replica.name, box.name.internalName, box)
        }
        .sorted { $0.from.split(separator: ".").count < $1.from.split(separator: ".").count }
    }

    /// `APPLY RENAME %(OLDMBOXNAME … NEWMBOXNAME … PARTITION … UIDVALIDITY …)` for each pair,
    /// in an order without collisions; a cycle is refused (Cyrus: IMAP_AGAIN).
    func rename(_ renames: [(from: String, to: String, box: Mailbox)]) async throws {
        var pending = renames
        while !pending.isEmpty {
            let sources = Set(pending.map(\.from))
            guard let index = pending.firstIndex(where: { !sources.contains($0.to) }) else {
                throw SyncClientError(.commandRefused, "rename cycle: \(pending.map { "\($0.from)→\($0.to)" })")
            }
            let next = pending.remove(at: index)
            logger.info("csync: rename", metadata: ["from": "\(next.from)", "to": "\(next.to)"])
            try await expectOK(
                .apply(
                    .init(
                        "RENAME",
                        .kvlist([
                            .init("OLDMBOXNAME", .string(next.from)), .init("NEWMBOXNAME", .string(next.to)),
                            .init("PARTITION", .string(next.box.partition)),
                            .init("UIDVALIDITY", .number(UInt64(next.box.uidValidity.rawValue))),
                        ])
                    )
                )
            )
        }
    }

    /// Quota roots of the user's mailboxes (§5.1 step 4.6): APPLY QUOTA when new or any limit
    /// differs, APPLY UNQUOTA for roots only the replica has. A local root without limits
    /// that the replica lacks is not created there.
    func syncQuotas(local: [Mailbox], remote: [String: QuotaRoot]) async throws {
        var roots: [String] = []
        for mailbox in local { if let root = mailbox.quotaRoot, !roots.contains(root) { roots.append(root) } }
        for root in roots {
            guard
                let quota = try await storeCall({ () async throws(MailStoreError) in try await store.quotaRoot(root) })
            else { continue }
            let replica = remote[root]
            if replica == nil && quota.storageLimitKiB == nil && quota.messageLimit == nil { continue }
            if let replica, replica.storageLimitKiB == quota.storageLimitKiB, replica.messageLimit == quota.messageLimit
            {
                continue
            }
            try await expectOK(.apply(.init("QUOTA", ReplicaWire.quotaItem(quota))))
        }
        for root in remote.keys.sorted() where !roots.contains(root) {
            try await expectOK(.apply(.init("UNQUOTA", .string(root))))
        }
    }

    /// Subscriptions (§5.1 step 5): SUB for local-only names, UNSUB for replica-only ones.
    func syncSubscriptions(_ user: UserName, remote: Set<String>) async throws {
        let local = Set(
            try await storeCall { () async throws(MailStoreError) in try await store.subscriptions(of: user) }
                .map(\.internalName)
        )
        for name in local.subtracting(remote).sorted() {
            try await expectOK(.apply(.init("SUB", subscription(user, name))))
        }
        for name in remote.subtracting(local).sorted() {
            try await expectOK(.apply(.init("UNSUB", subscription(user, name))))
        }
    }

    private func subscription(_ user: UserName, _ name: String) -> DList {
        .kvlist([.init("USERID", .string(user.name)), .init("MBOXNAME", .string(name))])
    }

    /// Seen state of mailboxes the user does not own (§5.1 step 7): APPLY SEEN for entries
    /// that are new or differ; replica-only entries are left alone, as sync_client does.
    func syncSeen(_ user: UserName, remote: [String: SeenState]) async throws {
        let local = try await storeCall { () async throws(MailStoreError) in try await store.seenStates(of: user) }
        for (uniqueID, state) in local.sorted(by: { $0.key < $1.key }) {
            if let replica = remote[uniqueID], Self.sameSeen(replica, state) { continue }
            try await expectOK(.apply(.init("SEEN", ReplicaWire.seenApplyItem(user: user, uniqueID: uniqueID, state))))
        }
    }

    static func sameSeen(_ lhs: SeenState, _ rhs: SeenState) -> Bool {
        lhs.lastUID == rhs.lastUID && lhs.seenUIDs == rhs.seenUIDs
            && lhs.lastRead.rounded(.down) == rhs.lastRead.rounded(.down)
            && lhs.lastChange.rounded(.down) == rhs.lastChange.rounded(.down)
    }
}
