import Logging
import MailCore
import MailStore
import SyncCodec

extension SyncClientRunner {
    /// Reserve for every mailbox, then each mailbox's update (§5.1 steps 4.1 and 4.5).
    func updateMailboxes(_ names: [MailboxName], remote: [ReplicaMailboxSummary]) async throws {
        let byID = Dictionary(remote.map { ($0.uniqueID, $0) }, uniquingKeysWith: { first, _ in first })
        var mailboxes: [(state: ReplicaMailboxState, checksums: MailboxChecksums, replica: ReplicaMailboxSummary?)] = []
        for name in names {
            guard
                let header = try await storeCall({ () async throws(MailStoreError) in
                    try await store.replicaState(of: name, selecting: .none)
                })
            else {
                note("mailbox \(name) vanished during the run; skipped")
                continue
            }
            let uniqueID = header.mailbox.uniqueID
            let replica = byID[uniqueID]
            // Only the records the delta and the reservation need: those changed since the
            // replica's state (all of them for a mailbox the replica lacks).
            let needed =
                replica.map {
                    ReplicaRecordSelection.changed(sinceModSeq: ModSeq($0.highestModSeq), aboveUID: $0.lastUID)
                } ?? .all
            guard
                let (state, checksums) = try await storeCall({ () async throws(MailStoreError) in
                    try await client.checksums.read(.uniqueID(uniqueID), needing: needed, from: store)
                })
            else {
                note("mailbox \(name) vanished during the run; skipped")
                continue
            }
            mailboxes.append((state, checksums, replica))
        }
        let states = mailboxes.map { ($0.state, $0.replica) }
        try await reserve(states, replicaNames: remote.map(\.name))
        var failures: [String] = []
        for (state, checksums, replica) in mailboxes {
            report.mailboxesExamined += 1
            do {
                try await updateMailbox(state, checksums: checksums, replica: replica)
            } catch let error as SyncClientError where !error.isSessionFatal {
                failures.append("\(state.mailbox.name): \(error)")
                logger.error(
                    "csync: mailbox failed",
                    metadata: ["mailbox": "\(state.mailbox.name)", "error": "\(error)"]
                )
            }
        }
        if !failures.isEmpty {
            throw SyncClientError(.commandRefused, failures.joined(separator: "; "))
        }
    }

    /// `APPLY RESERVE` (§3.4.1, §3.6): the GUIDs of records the replica lacks (UID above its
    /// LAST_UID), per partition, with every replica mailbox name of the batch. Skipped when the
    /// replica has no mailbox at all: everything is then uploaded.
    func reserve(_ states: [(ReplicaMailboxState, ReplicaMailboxSummary?)], replicaNames: [String]) async throws {
        var wanted: [String: [MessageGUID]] = [:]
        var seen: Set<MessageGUID> = []
        for (state, replica) in states {
            let lastUID = replica?.lastUID ?? 0
            for record in state.records where record.uid.rawValue > lastUID && !record.isExpunged {
                guard !staged.contains(record.guid), seen.insert(record.guid).inserted else { continue }
                wanted[state.mailbox.partition, default: []].append(record.guid)
            }
        }
        guard !replicaNames.isEmpty else {
            for guids in wanted.values { missing.formUnion(guids) }
            return
        }
        for (partition, guids) in wanted.sorted(by: { $0.key < $1.key }) {
            var start = 0
            while start < guids.count {
                let batch = guids[start..<min(start + Self.reserveBatch, guids.count)]
                start += batch.count
                let reply = try await expectOK(
                    .apply(
                        .init(
                            "RESERVE",
                            .kvlist([
                                .init("PARTITION", .string(partition)),
                                .init("MBOXNAME", .list(replicaNames.map { .string($0) })),
                                .init("GUID", .list(batch.map { .string($0.hex) })),
                            ])
                        )
                    )
                )
                let absent = Set(reply.values("MISSING").flatMap { $0.listValue ?? [] }.compactMap(\.guidValue))
                for guid in batch {
                    if absent.contains(guid) { missing.insert(guid) } else { staged.insert(guid) }
                }
            }
        }
    }

    /// One mailbox (§5.2): nothing if unchanged; else a delta with SINCE_*; on
    /// IMAP_SYNC_CHECKSUM or IMAP_SYNC_CHANGED the replica's state again and a plain update
    /// from every record, checksums recomputed; if that fails too, a full update from
    /// GET FULLMAILBOX. `state` holds at least the records changed since `replica`'s state.
    func updateMailbox(
        _ state: ReplicaMailboxState,
        checksums: MailboxChecksums,
        replica: ReplicaMailboxSummary?
    ) async throws {
        if let replica, Self.unchanged(state, checksums, replica) { return }
        let since = replica.flatMap { replica -> ReplicaWire.Since? in
            guard replica.highestModSeq > 0 else { return nil }
            return ReplicaWire.Since(
                modSeq: replica.highestModSeq,
                crc: replica.syncCRC,
                crcAnnotations: replica.syncCRCAnnotations
            )
        }
        let first = try await apply(
            state,
            checksums: checksums,
            records: Self.delta(state, replica: replica),
            replica: replica,
            since: since
        )
        guard let first, Self.retried(first) else {
            if let first { throw refused(.apply(.init("MAILBOX", .kvlist([]))), first) }
            return
        }
        let name = state.mailbox.name.internalName
        logger.notice(
            "csync: APPLY MAILBOX refused, retrying without SINCE_*",
            metadata: ["mailbox": "\(name)", "status": "\(first.code?.rawValue ?? first.text)"]
        )
        let fresh = try await expectOK(.get(.init("MAILBOXES", .list([.string(name)]))))
            .values("MAILBOX").compactMap(ReplicaWire.replicaMailbox(from:))
            .first { $0.uniqueID == state.mailbox.uniqueID }
        // From here on nothing cached is trusted: every record, checksums recomputed.
        guard let (full, fullChecksums) = try await recomputed(state.mailbox.uniqueID) else {
            note("mailbox \(name) vanished during the run; skipped")
            return
        }
        if let fresh, Self.unchanged(full, fullChecksums, fresh) { return }
        let second = try await apply(
            full,
            checksums: fullChecksums,
            records: Self.delta(full, replica: fresh),
            replica: fresh,
            since: nil
        )
        guard let second else { return }
        guard Self.retried(second) else { throw refused(.apply(.init("MAILBOX", .kvlist([]))), second) }
        try await fullUpdate(full)
    }

    /// A mailbox with every record and its checksums recomputed from them, trusting nothing
    /// cached; nil if it is gone.
    func recomputed(_ uniqueID: String) async throws -> (ReplicaMailboxState, MailboxChecksums)? {
        try await storeCall { () async throws(MailStoreError) in
            try await client.checksums.read(.uniqueID(uniqueID), needing: .all, from: store, fresh: true)
        }
    }

    /// Uploads what the records need, then sends APPLY MAILBOX; nil on OK, else the status.
    func apply(
        _ state: ReplicaMailboxState,
        checksums: MailboxChecksums,
        records: [ReplicaRecord],
        replica: ReplicaMailboxSummary?,
        since: ReplicaWire.Since?
    ) async throws -> SyncStatus? {
        let lastUID = replica?.lastUID ?? 0
        var uploads: [(partition: String, guid: MessageGUID)] = []
        var uploadBytes: Int64 = 0
        for record in records where record.uid.rawValue > lastUID && !record.isExpunged {
            guard missing.contains(record.guid) || !staged.contains(record.guid) else { continue }
            missing.remove(record.guid)
            staged.insert(record.guid)
            uploads.append((state.mailbox.partition, record.guid))
            uploadBytes += record.size
            if uploads.count >= Self.uploadBatch || uploadBytes >= Self.uploadBatchBytes {
                try await upload(uploads)
                uploads = []
                uploadBytes = 0
            }
        }
        if !uploads.isEmpty { try await upload(uploads) }
        let reply = try await connection.send(
            .apply(
                .init(
                    "MAILBOX",
                    ReplicaWire.mailboxApplyItem(state, records: records, since: since, checksums: checksums)
                )
            )
        )
        guard reply.status.kind == .ok else { return reply.status }
        report.mailboxesUpdated += 1
        report.recordsSent += records.count
        progress(.mailboxUpdated(state.mailbox.name, records: records.count))
        return nil
    }

    /// `APPLY MESSAGE` with the files' bytes streamed from the store.
    func upload(_ files: [(partition: String, guid: MessageGUID)]) async throws {
        let store = self.store
        let (reply, bytes) = try await connection.sendMessages(files) { guid in
            do {
                return try await store.messageBytes(guid)
            } catch {
                throw SyncClientError(.storeFailure, "message \(guid.hex): \(error)")
            }
        }
        guard reply.status.kind == .ok else { throw refused(.apply(.init("MESSAGE", .list([]))), reply.status) }
        report.messagesUploaded += files.count
        report.bytesUploaded += bytes
        progress(.messagesUploaded(count: files.count, bytes: bytes))
    }

    /// IMAP_SYNC_CHECKSUM and IMAP_SYNC_CHANGED climb the ladder; anything else is an error.
    static func retried(_ status: SyncStatus) -> Bool {
        status.code == .syncChecksum || status.code == .syncChanged
    }

    /// The records a delta carries (§5.2 step 6): MODSEQ above the replica's HIGHESTMODSEQ or
    /// UID above its LAST_UID, expunged ones included; everything when the replica lacks the
    /// mailbox.
    static func delta(_ state: ReplicaMailboxState, replica: ReplicaMailboxSummary?) -> [ReplicaRecord] {
        guard let replica else { return state.records }
        return state.records.filter {
            $0.modSeq.rawValue > replica.highestModSeq || $0.uid.rawValue > replica.lastUID
        }
    }

    /// The "is it unchanged?" test (§4.4), on the fields Corvid keeps.
    static func unchanged(
        _ state: ReplicaMailboxState,
        _ checksums: MailboxChecksums,
        _ replica: ReplicaMailboxSummary
    ) -> Bool {
        let mailbox = state.mailbox
        return replica.type.isEmpty && replica.name == mailbox.name.internalName
            && replica.lastUID == mailbox.lastUID
            && replica.highestModSeq == mailbox.highestModSeq.rawValue
            && replica.uidValidity == mailbox.uidValidity.rawValue
            && replica.recentUID == mailbox.recentUID
            && replica.recentTime == ReplicaWire.seconds(mailbox.recentTime)
            && replica.pop3LastLogin == ReplicaWire.seconds(mailbox.pop3LastLogin)
            && replica.pop3ShowAfter == ReplicaWire.seconds(mailbox.pop3ShowAfter)
            && ReplicaWire.options(from: replica.options) == mailbox.options
            && (replica.folderModSeq.map { $0 == mailbox.folderModSeq.rawValue } ?? true)
            && replica.acl == mailbox.acl.cyrusString
            && replica.annotations == ReplicaWire.annotationKeys(state.annotations)
            && checksums.matches(MailboxChecksums(basic: replica.syncCRC, annotations: replica.syncCRCAnnotations))
    }
}
