import MailCore
import MailStore
import SyncCodec

extension SyncClientRunner {
    /// One user's mailboxes compared with the replica's (issue 6 (b)): `GET USER`, then `GET
    /// FULLMAILBOX` for each pair whose SYNC_CRC differs. Changes nothing on either side.
    func checkUser(_ user: UserName) async throws -> [ReplicaDifference] {
        let reply = try await connection.send(.get(.init("USER", .string(user.name))))
        var remote: [ReplicaMailboxSummary] = []
        if reply.status.kind == .ok {
            remote = ReplicaUserState(reply).mailboxes
        } else if reply.status.code != .mailboxNonexistent {
            throw refused(.get(.init("USER", .string(user.name))), reply.status)
        }
        let local = try await storeCall { () async throws(MailStoreError) in
            try await store.mailboxes(under: .inbox(of: user))
        }
        return try await compare(local.map(\.name), remote: remote)
    }

    /// The same for mailboxes outside any user, by name (`GET MAILBOXES`).
    func checkMailboxes(_ names: [MailboxName]) async throws -> [ReplicaDifference] {
        let reply = try await expectOK(.get(.init("MAILBOXES", .list(names.map { .string($0.internalName) }))))
        return try await compare(names, remote: reply.values("MAILBOX").compactMap(ReplicaWire.replicaMailbox(from:)))
    }

    private func compare(_ names: [MailboxName], remote: [ReplicaMailboxSummary]) async throws -> [ReplicaDifference] {
        var states: [ReplicaMailboxState] = []
        for name in names {
            guard
                let state = try await storeCall({ () async throws(MailStoreError) in
                    try await store.replicaState(of: name, records: true)
                })
            else { continue }
            states.append(state)
        }
        let unknown = remote.map(\.uniqueID).filter { id in !states.contains { $0.mailbox.uniqueID == id } }
        let deletedHere = try await storeCall { () async throws(MailStoreError) in
            try await store.deletedMailboxes(uniqueIDs: unknown)
        }
        var (differences, compare) = ReplicaComparison.mailboxes(
            local: states,
            remote: remote,
            deletedHere: deletedHere
        )
        for state in compare {
            let name = state.mailbox.name.internalName
            let reply = try await expectOK(.get(.init("FULLMAILBOX", .string(name))))
            guard
                let replica = reply.values("MAILBOX").compactMap(ReplicaWire.replicaMailbox(from:)).first,
                replica.uniqueID == state.mailbox.uniqueID
            else {
                differences.append(.init(name, "vanished from the replica during the check"))
                continue
            }
            let records = ReplicaComparison.records(state, replica)
            differences += records.isEmpty ? [.init(name, "SYNC_CRC differs, though every record agrees")] : records
        }
        return differences
    }
}

extension SyncClientRunner {
    /// `check`: each user, then the shared mailboxes, compared; with `repair`, each one that
    /// differs is synced (the delta protocol leaves what agrees untouched; what only the
    /// replica has is copied back, never deleted) and compared again.
    func check(
        users: [UserName],
        sharedMailboxes: [MailboxName],
        repair: Bool
    ) async throws {
        var units: [(name: String, check: () async throws -> [ReplicaDifference], sync: () async throws -> Void)] =
            users.map { user in
                (user.name, { try await self.checkUser(user) }, { try await self.syncUser(user) })
            }
        if !sharedMailboxes.isEmpty {
            units.append(
                (
                    "shared mailboxes", { try await self.checkMailboxes(sharedMailboxes) },
                    { try await self.syncMailboxes(sharedMailboxes) }
                )
            )
        }
        for (index, unit) in units.enumerated() {
            if index > 0 { try await restart() }
            do {
                let found = try await unit.check()
                report.differences += found
                var remaining = found
                if repair && !found.isEmpty {
                    try await restart()
                    try await unit.sync()
                    try await restart()
                    remaining = try await unit.check()
                }
                report.remainingDifferences += remaining
                report.succeeded.append(unit.name)
            } catch let error as SyncClientError where !error.isSessionFatal {
                report.failures.append((unit.name, "\(error)"))
            }
        }
    }
}
