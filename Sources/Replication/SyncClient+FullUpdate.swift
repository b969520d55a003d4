import Logging
import MailCore
import MailStore
import NIOCore
import SyncCodec

extension SyncClientRunner {
    /// The last rung of the ladder (§5.4): `GET FULLMAILBOX`, the merge settled on the master
    /// (copy-back, renumbering, replica-newer flags; ``FullMailboxMerge``), `APPLY EXPUNGE` of
    /// the replica UIDs copied back, then one APPLY MAILBOX carrying the merged state.
    ///
    /// The master's store changes first, in one transaction, and the replica's UIDs are
    /// expunged only after that is durable: a crash in between leaves the message on both
    /// sides, never on neither.
    func fullUpdate(_ state: ReplicaMailboxState) async throws {
        let name = state.mailbox.name.internalName
        logger.notice("csync: full update", metadata: ["mailbox": "\(name)"])
        let reply = try await connection.send(.get(.init("FULLMAILBOX", .string(name))))
        guard reply.status.kind == .ok else {
            guard reply.status.code == .mailboxNonexistent else {
                throw refused(.get(.init("FULLMAILBOX", .string(name))), reply.status)
            }
            // Gone from the replica meanwhile: send it whole.
            guard
                let status = try await apply(
                    state,
                    checksums: MailboxChecksums(records: state.records),
                    records: state.records,
                    replica: nil,
                    since: nil
                )
            else { return }
            throw refused(.apply(.init("MAILBOX", .kvlist([]))), status)
        }
        guard let replica = reply.values("MAILBOX").compactMap(ReplicaWire.replicaMailbox(from:)).first else {
            throw SyncClientError(.commandRefused, "GET FULLMAILBOX \(name): the reply has no MAILBOX")
        }
        guard replica.uniqueID == state.mailbox.uniqueID else {
            // Two mailboxes that only share a name (made on each side independently): not
            // something to merge. The mailbox fails; everything else goes on.
            throw SyncClientError(
                .commandRefused,
                "\(name): the replica's mailbox of this name is another one (uniqueid \(replica.uniqueID), "
                    + "ours \(state.mailbox.uniqueID)); left for an administrator"
            )
        }
        let merge = FullMailboxMerge(master: state, replica: replica, now: client.clock())
        for decision in merge.decisions {
            note(decision.text, ["mailbox": "\(name)", "decision": "\(decision.kind.rawValue)"])
            SyncClientMetrics.decisions(decision.kind).increment()
            if decision.kind == .guidConflict { conflicts.append(decision.text) }
        }
        if merge.changesMaster {
            try await settle(merge, in: state.mailbox)
        }
        if !merge.replicaExpunges.isEmpty {
            try await expectOK(
                .apply(
                    .init(
                        "EXPUNGE",
                        .kvlist([
                            .init("MBOXNAME", .string(name)),
                            .init("UNIQUEID", .string(state.mailbox.uniqueID)),
                            .init("UID", .list(merge.replicaExpunges.map { .number(UInt64($0.rawValue)) })),
                        ])
                    )
                )
            )
        }
        guard let (merged, checksums) = try await recomputed(state.mailbox.uniqueID) else {
            throw SyncClientError(.storeFailure, "mailbox \(name) vanished during its full update")
        }
        let fresh = try await expectOK(.get(.init("MAILBOXES", .list([.string(name)]))))
            .values("MAILBOX").compactMap(ReplicaWire.replicaMailbox(from:))
            .first { $0.uniqueID == state.mailbox.uniqueID }
        if let fresh, Self.unchanged(merged, checksums, fresh) { return }
        let records = Self.delta(merged, replica: fresh)
        guard
            let status = try await apply(merged, checksums: checksums, records: records, replica: fresh, since: nil)
        else { return }
        throw refused(.apply(.init("MAILBOX", .kvlist([]))), status)
    }

    /// Fetches the replica's messages the master lacks and applies the merge to the local
    /// store. A concurrent local change (IMAP_SYNC_CHANGED from the store) fails the mailbox
    /// for this run; the next one starts from the new state.
    private func settle(_ merge: FullMailboxMerge, in mailbox: Mailbox) async throws {
        try await applyLocally(merge.update, fetching: merge.fetches, from: mailbox)
    }

    /// Applies `update` to the local store in one transaction, first fetching (`GET FETCH`)
    /// the messages of `records` it does not hold; staged fetches are discarded either way.
    /// Counts the records as copied back.
    func applyLocally(
        _ update: ReplicaMailboxUpdate,
        fetching records: [ReplicaRecord],
        from mailbox: Mailbox
    )
        async throws
    {
        let held = try await storeCall { () async throws(MailStoreError) in
            try await store.storedMessages(records.map(\.guid))
        }
        var fetched: [MessageGUID: StagedMessage] = [:]
        do {
            for record in records where !held.contains(record.guid) && fetched[record.guid] == nil {
                fetched[record.guid] = try await fetch(record, from: mailbox)
            }
            let messages = fetched
            _ = try await storeCall { () async throws(MailStoreError) in
                try await store.applyReplicaMailbox(update, messages: messages)
            }
        } catch {
            for staged in fetched.values { await store.discardStagedMessage(staged) }
            throw error
        }
        for staged in fetched.values { await store.discardStagedMessage(staged) }
        report.messagesCopiedBack += records.count
    }

    /// `GET FETCH` (§3.3.6): one replica message, streamed into the store's staging area and
    /// checked against the GUID and size GET FULLMAILBOX gave.
    func fetch(_ record: ReplicaRecord, from mailbox: Mailbox) async throws -> StagedMessage {
        let command = SyncCommand.get(
            .init(
                "FETCH",
                .kvlist([
                    .init("MBOXNAME", .string(mailbox.name.internalName)),
                    .init("PARTITION", .string(mailbox.partition)),
                    .init("UNIQUEID", .string(mailbox.uniqueID)),
                    .init("GUID", .string(record.guid.hex)),
                    .init("UID", .number(UInt64(record.uid.rawValue))),
                ])
            )
        )
        let sink = StagingFileSink(store: store, expected: record)
        let reply: SyncClientReply
        do {
            reply = try await connection.send(command, files: sink)
        } catch {
            await sink.discard()
            throw error
        }
        guard reply.status.kind == .ok else {
            await sink.discard()
            throw refused(command, reply.status)
        }
        return try await sink.result()
    }
}

/// Stages the one file literal of a `GET FETCH` reply, checking it against the record.
private final class StagingFileSink: SyncFileSink {
    let store: any MailStore
    let expected: ReplicaRecord
    private var writer: (any MessageStagingWriter)?
    private var staged: StagedMessage?
    private var failure: SyncClientError?

    init(store: any MailStore, expected: ReplicaRecord) {
        self.store = store
        self.expected = expected
    }

    func start(_ file: FileLiteral) async {
        guard failure == nil else { return }
        guard writer == nil, staged == nil, file.messageGUID == expected.guid, Int64(file.size) == expected.size else {
            failure = SyncClientError(
                .commandRefused,
                "GET FETCH sent \(file.guidText) (\(file.size) bytes), expected \(expected.guid.hex) "
                    + "(\(expected.size) bytes)"
            )
            return
        }
        do {
            writer = try await store.beginMessage()
        } catch {
            failure = SyncClientError(.storeFailure, "staging a fetched message: \(error)")
        }
    }

    func write(_ bytes: ByteBuffer) async {
        guard failure == nil, let writer else { return }
        do {
            try await writer.write(bytes)
        } catch {
            failure = SyncClientError(.storeFailure, "staging a fetched message: \(error)")
        }
    }

    func finish() async {
        guard failure == nil, let writer else { return }
        self.writer = nil
        do {
            let message = try await writer.finish()
            staged = message
            if message.guid != expected.guid || message.size != expected.size {
                failure = SyncClientError(
                    .commandRefused,
                    "GET FETCH: the bytes hash to \(message.guid.hex) (\(message.size) bytes), "
                        + "expected \(expected.guid.hex)"
                )
            }
        } catch {
            failure = SyncClientError(.storeFailure, "staging a fetched message: \(error)")
        }
    }

    /// The staged message; throws (having discarded what was staged) if the reply carried no
    /// good file.
    func result() async throws -> StagedMessage {
        if failure == nil, writer == nil, let staged { return staged }
        let error =
            failure ?? SyncClientError(.commandRefused, "GET FETCH \(expected.guid.hex): no MESSAGE in the reply")
        await discard()
        throw error
    }

    func discard() async {
        if let writer { await writer.discard() }
        if let staged { await store.discardStagedMessage(staged) }
        writer = nil
        staged = nil
    }
}
