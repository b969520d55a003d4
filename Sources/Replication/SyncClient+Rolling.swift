import Logging
import MailCore
import MailStore
import SyncCodec

/// Rolling replication's operations on an open session (sync-protocol §6.3 step 5): one
/// connection serves many batches, each ended by `RESTART`.
extension SyncClientRunner {
    /// Runs one batch in §6.3's order: mailbox groups, quota roots, server annotations, seen entries,
    /// subscriptions, users, deleted users. A refused command fails only its item (quota, seen
    /// and subscription failures are promoted to a full sync of their user); a session-fatal
    /// error (connection lost) throws, and the batch is done again on a new connection.
    func perform(_ work: ReplicationWork) async throws -> ReplicationOutcome {
        var outcome = ReplicationOutcome(attempted: work.items)
        var users = work.users
        for (_, names) in work.mailboxGroups.sorted(by: { $0.key < $1.key }) {
            for (name, reason) in try await syncMailboxGroup(names.sorted()) {
                outcome.failed[ReplicationItem(.mailbox, name)] = reason
            }
            try await restart()
        }
        for root in work.quotaRoots.sorted() {
            try await promotingFailure(to: ReplicationWork.owner(of: root), fallback: root, &users, &outcome) {
                try await syncQuotaRoot(root)
            }
        }
        if work.serverAnnotations {
            try await itemCall(.server, &outcome) { try await syncServerAnnotations() }
        }
        for entry in work.seen.sorted() {
            try await promotingFailure(to: entry.user, &users, &outcome) {
                try await syncSeenEntry(user: entry.user, uniqueID: entry.uniqueID)
            }
        }
        for entry in work.subscriptions.sorted() {
            try await promotingFailure(to: entry.user, &users, &outcome) {
                try await syncSubscription(user: entry.user, mailbox: entry.mailbox)
            }
        }
        for user in users.sorted() {
            outcome.attempted.insert(ReplicationItem(.user, user))
            try await itemCall(ReplicationItem(.user, user), &outcome) {
                try await syncUser(try Self.userName(user))
            }
            try await restart()
        }
        for user in work.deletedUsers.sorted() {
            try await itemCall(ReplicationItem(.user, user), &outcome) {
                try await deleteReplicaUser(try Self.userName(user))
            }
        }
        return outcome
    }

    /// Everything (a new channel, or one whose cursor fell behind the pruned feed): every user
    /// with an account or mailboxes here, then every mailbox outside `user.` (`sync_client -A`
    /// plus the shared mailboxes).
    func performFullSync() async throws -> ReplicationOutcome {
        let accounts = try await storeCall { () async throws(MailStoreError) in try await store.users() }
        let mailboxes = try await storeCall { () async throws(MailStoreError) in try await store.mailboxes(under: nil) }
        var work = ReplicationWork()
        work.users = Set(accounts.map(\.name.name) + mailboxes.compactMap(\.name.owner?.name))
        for mailbox in mailboxes where mailbox.name.owner == nil { work.addMailbox(mailbox.name.internalName) }
        work.serverAnnotations = true
        logger.notice(
            "csync: full sync",
            metadata: ["users": "\(work.users.count)", "shared_mailboxes": "\(work.mailboxGroups[""]?.count ?? 0)"]
        )
        return try await perform(work)
    }

    /// One group (§6.3 step 5.1): `GET MAILBOXES` for its names; replica mailboxes deleted
    /// here (tombstones) are deleted there; renames by uniqueid; then each mailbox's contents.
    /// If the group fails, each mailbox is tried on its own so only the failing ones are
    /// reported. Returns the failures by name.
    func syncMailboxGroup(_ names: [String]) async throws -> [String: String] {
        var failures: [String: String] = [:]
        var valid: [MailboxName] = []
        for name in names {
            if let mailbox = try? MailboxName(internal: name) {
                valid.append(mailbox)
            } else {
                failures[name] = "not a valid mailbox name"
            }
        }
        do {
            try await syncMailboxSet(valid)
            return failures
        } catch let error as SyncClientError where error.isItemFailure {
            guard valid.count > 1 else {
                if let only = valid.first { failures[only.internalName] = "\(error)" }
                return failures
            }
        }
        for name in valid {
            do {
                try await syncMailboxSet([name])
            } catch let error as SyncClientError where error.isItemFailure {
                failures[name.internalName] = "\(error)"
            }
        }
        return failures
    }

    /// `GET MAILBOXES`, deletes, renames, contents for these names (one group or one mailbox).
    func syncMailboxSet(_ names: [MailboxName]) async throws {
        guard !names.isEmpty else { return }
        var local: [Mailbox] = []
        for name in names {
            if let mailbox = try await storeCall({ () async throws(MailStoreError) in try await store.mailbox(name) }) {
                local.append(mailbox)
            }
        }
        let localIDs = Set(local.map(\.uniqueID))
        var remote = try await replicaMailboxes(names)
        let replicaOnly = remote.filter { !localIDs.contains($0.uniqueID) }
        if !replicaOnly.isEmpty {
            let deletedHere = try await storeCall { () async throws(MailStoreError) in
                try await store.deletedMailboxes(uniqueIDs: replicaOnly.map(\.uniqueID))
            }
            for mailbox in replicaOnly where deletedHere.contains(mailbox.uniqueID) {
                try await deleteReplicaOnly(mailbox)
            }
        }
        remote.removeAll { !localIDs.contains($0.uniqueID) }
        let renames = plannedRenames(local: local, remote: remote)
        if !renames.isEmpty {
            try await rename(renames)
            remote = try await replicaMailboxes(names).filter { localIDs.contains($0.uniqueID) }
        }
        guard !local.isEmpty else { return }
        try await updateMailboxes(local.map(\.name), remote: remote)
    }

    private func replicaMailboxes(_ names: [MailboxName]) async throws -> [ReplicaMailboxSummary] {
        try await expectOK(.get(.init("MAILBOXES", .list(names.map { .string($0.internalName) }))))
            .values("MAILBOX").compactMap(ReplicaWire.replicaMailbox(from:))
    }

    /// `QUOTA root` (§6.2): `APPLY QUOTA` with the current limits, or `APPLY UNQUOTA` if the
    /// root is gone here.
    func syncQuotaRoot(_ root: String) async throws {
        if let quota = try await storeCall({ () async throws(MailStoreError) in try await store.quotaRoot(root) }) {
            try await expectOK(.apply(.init("QUOTA", ReplicaWire.quotaItem(quota))))
        } else {
            let command = SyncCommand.apply(.init("UNQUOTA", .string(root)))
            let reply = try await connection.send(command)
            guard reply.status.kind == .ok || reply.status.code == .mailboxNonexistent else {
                throw refused(command, reply.status)
            }
        }
    }

    /// `SEEN user uniqueid` (§6.2): `APPLY SEEN` with the current value, if there is one.
    func syncSeenEntry(user: String, uniqueID: String) async throws {
        let name = try Self.userName(user)
        guard
            let state = try await storeCall({ () async throws(MailStoreError) in
                try await store.seenState(of: name, mailboxUniqueID: uniqueID)
            })
        else { return }
        try await expectOK(.apply(.init("SEEN", ReplicaWire.seenApplyItem(user: name, uniqueID: uniqueID, state))))
    }

    /// `SUB user mailbox` (§6.2): the subscription's state here decides SUB or UNSUB.
    func syncSubscription(user: String, mailbox: String) async throws {
        let name = try Self.userName(user)
        let subscribed = try await storeCall { () async throws(MailStoreError) in
            try await store.subscriptions(of: name)
        }
        .contains { $0.internalName == mailbox }
        try await expectOK(
            .apply(
                .init(
                    subscribed ? "SUB" : "UNSUB",
                    .kvlist([.init("USERID", .string(user)), .init("MBOXNAME", .string(mailbox))])
                )
            )
        )
    }

    /// `UNUSER` (§6.2): `APPLY UNUSER` only if the user's INBOX does not exist here (again).
    func deleteReplicaUser(_ user: UserName) async throws {
        let inbox = MailboxName.inbox(of: user)
        guard try await storeCall({ () async throws(MailStoreError) in try await store.mailbox(inbox) }) == nil else {
            return
        }
        let command = SyncCommand.apply(.init("UNUSER", .string(user.name)))
        let reply = try await connection.send(command)
        guard reply.status.kind == .ok || reply.status.code == .mailboxNonexistent else {
            throw refused(command, reply.status)
        }
    }

    /// Runs one item's work; a non-fatal failure is recorded against the item.
    private func itemCall(
        _ item: ReplicationItem,
        _ outcome: inout ReplicationOutcome,
        _ body: () async throws -> Void
    ) async throws {
        do {
            try await body()
        } catch let error as SyncClientError where error.isItemFailure {
            outcome.failed[item] = "\(error)"
            logger.error("csync: \(item) failed", metadata: ["error": "\(error)"])
        }
    }

    /// Runs a quota, seen or subscription entry; on a non-fatal failure its user is synced in
    /// full instead (§6.3); without a user (a root outside `user.`) the failure is reported
    /// on the mailbox `fallback`.
    private func promotingFailure(
        to user: String,
        fallback: String = "",
        _ users: inout Set<String>,
        _ outcome: inout ReplicationOutcome,
        _ body: () async throws -> Void
    ) async throws {
        do {
            try await body()
        } catch let error as SyncClientError where error.isItemFailure {
            logger.notice(
                "csync: entry failed, promoted to a user sync",
                metadata: ["user": "\(user)", "error": "\(error)"]
            )
            if user.isEmpty {
                outcome.failed[ReplicationItem(.mailbox, fallback)] = "\(error)"
            } else {
                users.insert(user)
            }
        }
    }

    static func userName(_ text: String) throws -> UserName {
        do {
            return try UserName(text)
        } catch {
            throw SyncClientError(.storeFailure, "not a valid user name: \(text)")
        }
    }
}

extension SyncClientError {
    /// Whether the error fails only the item being synced: a refusal or a local store error.
    /// A lost session, or a reply that says the replica is going away (`BYE`), ends the batch.
    var isItemFailure: Bool { !isSessionFatal && status?.kind != .bye }
}
