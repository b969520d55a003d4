import GRDB
import MailCore
import MailStore
import Synchronization

import struct Foundation.Data

/// The replica side of csync (sync-protocol.md §3.4.3, §3.4.6, §5.5, §5.6): whole mailbox
/// states read in one snapshot, each `APPLY MAILBOX` validated completely and then applied in
/// one group-committed transaction.
///
/// Choices where the protocol leaves room:
/// - the update's `partition` is kept as the mailbox's label (it is what GET replies report);
///   message bytes go to the store's default partition, as deliveries' do;
/// - a replica mailbox needs neither a `users` row nor its owner's INBOX (the sync engine
///   decides about users; csync replicates mailboxes in any order);
/// - quota limits are not enforced on replicated appends (the master enforced them), but
///   usage is counted;
/// - a record whose bytes (staged or stored) have another size than the record's SIZE is a
///   `syncChecksum` failure: the record contradicts its own GUID;
/// - UIDVALIDITY, HIGHESTMODSEQ and LAST_UID become the larger of the replica's and the
///   master's (after force, or when a same-name empty mailbox is replaced), never lower.
extension SQLiteMailStore {
    // MARK: Reads

    public func replicaState(
        of name: MailboxName,
        selecting selection: ReplicaRecordSelection
    )
        async throws(MailStoreError) -> ReplicaMailboxState?
    {
        try await read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT \(Self.mailboxColumns) FROM mailboxes WHERE name = ?",
                arguments: [name.internalName]
            )
            .map { row in try Self.replicaState(db, row, selecting: selection) }
        }
    }

    public func replicaState(
        uniqueID: String,
        selecting selection: ReplicaRecordSelection
    )
        async throws(MailStoreError) -> ReplicaMailboxState?
    {
        try await read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT \(Self.mailboxColumns) FROM mailboxes WHERE uniqueid = ?",
                arguments: [uniqueID]
            )
            .map { row in try Self.replicaState(db, row, selecting: selection) }
        }
    }

    /// The state of the mailbox in `row` with the selected records, read in the caller's snapshot.
    static func replicaState(
        _ db: Database,
        _ row: Row,
        selecting selection: ReplicaRecordSelection
    ) throws
        -> ReplicaMailboxState
    {
        let id: Int64 = row["id"]
        let header = try mailbox(from: row)
        let annotations = try Row.fetchAll(
            db,
            sql: "SELECT * FROM annotations WHERE mailbox_id = ? AND uid = 0 ORDER BY entry, userid",
            arguments: [id]
        ).map(annotation(from:))
        let recordsSQL: String
        let arguments: StatementArguments
        switch selection {
        case .none:
            return ReplicaMailboxState(mailbox: header, annotations: annotations, records: [])
        case .all:
            recordsSQL = "SELECT * FROM records WHERE mailbox_id = ? ORDER BY uid"
            arguments = [id]
        case .changed(let modSeq, let uid):
            // Three indexed lookups (records_modseq, the primary key, annotations') rather than
            // one OR, which SQLite would answer with a scan of the mailbox.
            recordsSQL = """
                SELECT * FROM records WHERE mailbox_id = ?1 AND modseq > ?2
                UNION SELECT * FROM records WHERE mailbox_id = ?1 AND uid > ?3
                UNION SELECT * FROM records WHERE mailbox_id = ?1 AND uid IN
                    (SELECT uid FROM annotations WHERE mailbox_id = ?1 AND uid > 0 AND modseq > ?2)
                ORDER BY uid
                """
            arguments = [id, Int64(clamping: modSeq.rawValue), Int64(uid)]
        }
        var list: [ReplicaRecord] = []
        if case .all = selection { list.reserveCapacity(header.messageCount) }
        let cursor = try Row.fetchCursor(db, sql: recordsSQL, arguments: arguments)
        while let row = try cursor.next() {
            list.append(try replicaRecord(from: row))
        }
        guard !list.isEmpty else { return ReplicaMailboxState(mailbox: header, annotations: annotations, records: []) }
        var perMessage: [UID: [Annotation]] = [:]
        // A long selection reads the mailbox's per-message annotations in one go.
        let bulk: Bool
        if case .all = selection { bulk = true } else { bulk = list.count > 256 }
        if bulk {
            for row in try Row.fetchAll(
                db,
                sql: "SELECT * FROM annotations WHERE mailbox_id = ? AND uid > 0 ORDER BY uid, entry, userid",
                arguments: [id]
            ) {
                let entry = annotation(from: row)
                if let uid = entry.uid { perMessage[uid, default: []].append(entry) }
            }
        } else {
            let statement = try db.cachedStatement(
                sql: "SELECT * FROM annotations WHERE mailbox_id = ? AND uid = ? ORDER BY entry, userid"
            )
            for record in list {
                let rows = try Row.fetchAll(statement, arguments: [id, Int64(record.uid.rawValue)])
                if !rows.isEmpty { perMessage[record.uid] = rows.map(annotation(from:)) }
            }
        }
        if !perMessage.isEmpty {
            for index in list.indices { list[index].annotations = perMessage[list[index].uid] ?? [] }
        }
        return ReplicaMailboxState(mailbox: header, annotations: annotations, records: list)
    }

    public func storedMessages(_ guids: [MessageGUID]) async throws(MailStoreError) -> Set<MessageGUID> {
        let unique = Array(Set(guids))
        return try await read { db in
            // Unreferenced rows are garbage the collector may remove before the upload that
            // would rely on them: report them missing, so the master sends the bytes again.
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM blobs WHERE guid = ? AND refcount > 0")
            var held = Set<MessageGUID>()
            for guid in unique {
                if try Bool.fetchOne(statement, arguments: [guid.hex]) == true { held.insert(guid) }
            }
            return held
        }
    }

    public func seenStates(of user: UserName) async throws(MailStoreError) -> [String: SeenState] {
        try await read { db in
            var states: [String: SeenState] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT * FROM seen WHERE user = ?", arguments: [user.name]) {
                states[row["uniqueid"]] = SeenState(
                    lastRead: row["lastread"],
                    lastUID: UInt32(truncatingIfNeeded: row["lastuid"] as Int64),
                    lastChange: row["lastchange"],
                    seenUIDs: row["seenuids"]
                )
            }
            return states
        }
    }

    // MARK: Writes

    public func applyReplicaMailbox(
        _ update: ReplicaMailboxUpdate,
        messages: [MessageGUID: StagedMessage]
    ) async throws(MailStoreError) -> ReplicaMailboxState {
        let now = clock()
        do {
            return try await withCheckedThrowingContinuation { continuation in
                submit(
                    ReplicaApplyJob(
                        update: update,
                        messages: messages,
                        partition: configuration.defaultPartition,
                        blobs: blobs,
                        now: now,
                        continuation: continuation
                    )
                )
            }
        } catch {
            throw MailStoreError(mapping: error)
        }
    }

    public func expungeReplicaRecords(
        uids: [UID],
        in name: MailboxName,
        uniqueID: String
    ) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            guard let (mailbox, id) = try Self.fetchMailboxAndID(db, name) else {
                throw MailStoreError(.nonexistent, "mailbox \(name) does not exist")
            }
            guard mailbox.uniqueID == uniqueID else {
                throw MailStoreError(.mailboxMoved, "mailbox \(name) has uniqueid \(mailbox.uniqueID), not \(uniqueID)")
            }
            let select = try db.cachedStatement(
                sql: "SELECT guid, size FROM records WHERE mailbox_id = ? AND uid = ? AND expunged = 0"
            )
            // §3.4.6: no modseq bump and no new last_updated, so the master's next delta (and the
            // SYNC_CRC) still matches.
            let update = try db.cachedStatement(sql: "UPDATE records SET expunged = 1 WHERE mailbox_id = ? AND uid = ?")
            var count = 0
            var bytes: Int64 = 0
            for uid in Set(uids) {
                guard let row = try Row.fetchOne(select, arguments: [id, Int64(uid.rawValue)]) else { continue }
                try update.execute(arguments: [id, Int64(uid.rawValue)])
                try Self.releaseBlob(db, row["guid"])
                count += 1
                bytes += row["size"] as Int64
            }
            guard count > 0 else { return }
            try Self.adjustUsage(db, mailboxID: id, quotaRoot: mailbox.quotaRoot, messages: -count, bytes: -bytes)
            // The feed still says something was expunged; sessions that track changes by modseq
            // do not see it, which is what the protocol asks for.
            try Self.recordChange(
                db,
                &files,
                kind: .expunge,
                user: name.owner?.name,
                mailbox: name.internalName,
                uniqueID: uniqueID,
                modSeq: mailbox.highestModSeq,
                now: now
            )
        }
    }

    public func deleteQuotaRoot(_ root: String) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            // Idempotent, like every APPLY (§8 item 25): an absent root is already removed.
            guard try Self.fetchQuotaRoot(db, root) != nil else { return }
            try db.execute(sql: "DELETE FROM quotaroots WHERE root = ?", arguments: [root])
            // Governed mailboxes fall back to an enclosing root if one exists, else to none.
            var roots: Set<String> = []
            for row in try Row.fetchAll(
                db,
                sql: "SELECT id, name FROM mailboxes WHERE quotaroot = ?",
                arguments: [root]
            ) {
                let enclosing = try Self.nearestQuotaRoot(db, try MailboxName(internal: row["name"]))
                try db.execute(
                    sql: "UPDATE mailboxes SET quotaroot = ? WHERE id = ?",
                    arguments: [enclosing, row["id"] as Int64]
                )
                if let enclosing { roots.insert(enclosing) }
            }
            for enclosing in roots { try Self.recomputeQuotaUsage(db, enclosing) }
            try Self.recordChange(
                db,
                &files,
                kind: .quota,
                user: (try? MailboxName(internal: root))?.owner?.name,
                mailbox: root,
                uniqueID: nil,
                modSeq: nil,
                now: now
            )
        }
    }

    /// Adds to a mailbox's live message count and size and to its quota root's usage.
    static func adjustUsage(_ db: Database, mailboxID: Int64, quotaRoot: String?, messages: Int, bytes: Int64) throws {
        guard messages != 0 || bytes != 0 else { return }
        try db.cachedStatement(
            sql: "UPDATE mailboxes SET message_count = message_count + ?, total_size = total_size + ? WHERE id = ?"
        ).execute(arguments: [messages, bytes, mailboxID])
        if let quotaRoot {
            try db.cachedStatement(
                sql:
                    "UPDATE quotaroots SET storage_used = storage_used + ?, messages_used = messages_used + ? WHERE root = ?"
            ).execute(arguments: [bytes, messages, quotaRoot])
        }
    }
}

// MARK: - APPLY MAILBOX

/// Where the bytes of new records may come from, as the file stage left them.
struct ReplicaByteSources: Sendable {
    /// The caller's uploads by GUID.
    var messages: [MessageGUID: StagedMessage]
    /// GUIDs (hex) whose file is durable for this batch: placed by this job, by an earlier
    /// job of the batch, or by a batch still committing.
    var durableFiles: Set<String> = []
    /// GUIDs (hex) whose upload could not be placed.
    var failures: [String: MailStoreError] = [:]
}

/// One `APPLY MAILBOX` inside a group-commit batch.
///
/// `prepareFiles` places a copy of every file-backed upload a live record names (the staging
/// file stays: one upload serves several mailboxes). `apply` runs the whole algorithm in its
/// own savepoint, so a refusal leaves nothing behind but the unreferenced blob rows that let
/// the collector remove the files it placed.
final class ReplicaApplyJob: WriteJob {
    var needsSavepoint: Bool { false }
    private let update: ReplicaMailboxUpdate
    private let partition: String
    private let blobs: BlobStore
    private let now: UnixTime
    private let continuation: CheckedContinuation<ReplicaMailboxState, any Error>
    private let state: Mutex<State>

    private struct State {
        var sources: ReplicaByteSources
        /// GUIDs (hex) this job placed a file for.
        var placed: Set<String> = []
        var result: Result<ReplicaMailboxState, MailStoreError>?
    }

    init(
        update: ReplicaMailboxUpdate,
        messages: [MessageGUID: StagedMessage],
        partition: String,
        blobs: BlobStore,
        now: UnixTime,
        continuation: CheckedContinuation<ReplicaMailboxState, any Error>
    ) {
        self.update = update
        self.partition = partition
        self.blobs = blobs
        self.now = now
        self.continuation = continuation
        self.state = Mutex(State(sources: ReplicaByteSources(messages: messages)))
    }

    func prepareFiles(_ db: Database, _ batch: inout BatchFiles, _ placing: PlacementLedger) throws {
        var sources = state.withLock { $0.sources }
        var placed: Set<String> = []
        let wanted = Set(update.records.lazy.filter { !$0.isExpunged }.map(\.guid))
        let lookup = try db.cachedStatement(sql: "SELECT 1 FROM blobs WHERE guid = ?")
        for guid in wanted.sorted() {
            guard let staged = sources.messages[guid], staged.guid == guid, staged.inlineBytes == nil,
                !staged.token.isEmpty
            else { continue }
            let hex = guid.hex
            if try Bool.fetchOne(lookup, arguments: [hex]) == true || batch.knownBlobs.contains(hex)
                || placing.contains(hex)
            {
                sources.durableFiles.insert(hex)
                continue
            }
            do {
                batch.directoriesToSync.formUnion(try blobs.placeCopy(of: staged.token, as: guid, partition: partition))
            } catch {
                sources.failures[hex] = error
                continue
            }
            placing.insert(hex)
            batch.placed.append(hex)
            batch.knownBlobs.insert(hex)
            sources.durableFiles.insert(hex)
            placed.insert(hex)
        }
        state.withLock {
            $0.sources = sources
            $0.placed = placed
        }
    }

    func apply(_ db: Database, _ batch: inout BatchFiles) throws {
        let (sources, placed) = state.withLock { ($0.sources, $0.placed) }
        var result: Result<ReplicaMailboxState, MailStoreError>?
        try db.inSavepoint {
            do {
                result = .success(
                    try SQLiteMailStore.applyReplica(db, &batch, update, sources, partition: partition, now: now)
                )
                return .commit
            } catch {
                result = .failure(MailStoreError(mapping: error))
                return .rollback
            }
        }
        if case .failure = result { batch.events.removeAll() }
        // Files placed for a refused apply (or for records that turned out not to need them)
        // get an unreferenced row: the collector removes the file with it.
        for hex in placed.sorted() {
            guard let guid = MessageGUID(hex: hex), let staged = sources.messages[guid] else { continue }
            try db.cachedStatement(
                sql:
                    "INSERT INTO blobs(guid, partition, size, refcount) VALUES (?, ?, ?, 0) ON CONFLICT(guid) DO NOTHING"
            ).execute(arguments: [hex, partition, staged.size])
        }
        state.withLock { $0.result = result }
    }

    func finish(commitError: MailStoreError?, events: [ChangeEvent]) {
        if let commitError {
            continuation.resume(throwing: commitError)
            return
        }
        switch state.withLock({ $0.result }) {
        case .success(let value): continuation.resume(returning: value)
        case .failure(let error): continuation.resume(throwing: error)
        case nil: continuation.resume(throwing: MailStoreError(.ioFailure, "replica apply did not run"))
        }
    }
}

extension SQLiteMailStore {
    /// §3.4.3 steps 3-9 and §5.6 in the caller's savepoint. Every refusal is thrown before the
    /// first write; after that only database failures can throw (and the savepoint undoes them).
    static func applyReplica(
        _ db: Database,
        _ files: inout BatchFiles,
        _ update: ReplicaMailboxUpdate,
        _ sources: ReplicaByteSources,
        partition: String,
        now: UnixTime
    ) throws -> ReplicaMailboxState {
        let incoming = update.mailbox
        let name = incoming.name
        // Steps 3 and 4: the uniqueid names the mailbox; a name held by another uniqueid is
        // taken over only while that mailbox never held a message (or in force mode).
        if let other = try String.fetchOne(
            db,
            sql: "SELECT name FROM mailboxes WHERE uniqueid = ?",
            arguments: [incoming.uniqueID]
        ), other != name.internalName {
            throw MailStoreError(.mailboxMoved, "uniqueid \(incoming.uniqueID) belongs to \(other), not \(name)")
        }
        var current: (id: Int64, mailbox: Mailbox)?
        var replaced: Mailbox?
        if let row = try Row.fetchOne(
            db,
            sql: "SELECT \(Self.mailboxColumns) FROM mailboxes WHERE name = ?",
            arguments: [name.internalName]
        ) {
            let existing = try mailbox(from: row)
            if existing.uniqueID == incoming.uniqueID {
                current = (row["id"], existing)
            } else if existing.lastUID == 0 || update.force {
                replaced = existing
            } else {
                throw MailStoreError(
                    .mailboxMoved,
                    "mailbox \(name) has uniqueid \(existing.uniqueID), not \(incoming.uniqueID)"
                )
            }
        }
        // A created (or re-created) mailbox counts as HIGHESTMODSEQ 0 and LAST_UID 0.
        let baseModSeq = current?.mailbox.highestModSeq ?? ModSeq(0)
        let baseLastUID = current?.mailbox.lastUID ?? 0
        // Step 5.
        if let expected = update.expectedHighestModSeq, expected != baseModSeq {
            throw MailStoreError(
                .syncChanged,
                "mailbox \(name) is at modseq \(baseModSeq), the update is based on \(expected)"
            )
        }
        if let existing = current?.mailbox {
            // Step 6.
            guard existing.mailboxType == incoming.mailboxType else {
                throw MailStoreError(
                    .invalidArgument,
                    "mailbox \(name) has type \(existing.mailboxType), the update \(incoming.mailboxType)"
                )
            }
            // Step 7.
            if !update.force {
                try sanityCheck(existing, incoming)
            }
        }
        // Step 8: the dry run.
        var updates: [(record: ReplicaRecord, replica: ReplicaRecord)] = []
        var appends: [ReplicaRecord] = []
        var previous: UID?
        let select = try db.cachedStatement(sql: "SELECT * FROM records WHERE mailbox_id = ? AND uid = ?")
        let selectAnnotations = try db.cachedStatement(
            sql: "SELECT * FROM annotations WHERE mailbox_id = ? AND uid = ? ORDER BY entry, userid"
        )
        for record in update.records {
            guard record.uid.rawValue > 0, previous.map({ record.uid > $0 }) ?? true else {
                throw MailStoreError(.invalidArgument, "records must have ascending, non-zero UIDs (at \(record.uid))")
            }
            previous = record.uid
            let found = try current.flatMap { current in
                try Row.fetchOne(select, arguments: [current.id, Int64(record.uid.rawValue)]).map(replicaRecord(from:))
            }
            if let replica = found {
                // Both expunged: nothing to do, except that a master settling a full update
                // (force mode) may raise the tombstone's MODSEQ so its next delta carries it.
                if replica.isExpunged && record.isExpunged {
                    if update.force && record.modSeq > replica.modSeq && replica.guid == record.guid {
                        updates.append((record, replica))
                    }
                    continue
                }
                guard replica.guid == record.guid else {
                    throw MailStoreError(
                        .syncChecksum,
                        "\(name) UID \(record.uid): GUID \(replica.guid) on the replica, \(record.guid) incoming"
                    )
                }
                if replica.modSeq > record.modSeq && !update.force {
                    throw MailStoreError(
                        .syncChecksum,
                        "\(name) UID \(record.uid): modseq \(replica.modSeq) on the replica, \(record.modSeq) incoming"
                    )
                }
                if replica.isExpunged {
                    throw MailStoreError(.syncChecksum, "\(name) UID \(record.uid) is expunged on the replica")
                }
                var known = replica
                known.annotations = try Row.fetchAll(
                    selectAnnotations,
                    arguments: [current?.id ?? 0, Int64(record.uid.rawValue)]
                ).map(annotation(from:))
                // A record already as the master has it (a re-sent APPLY) is not rewritten.
                if !sameRecord(known, record) { updates.append((record, replica)) }
            } else if record.uid.rawValue <= baseLastUID {
                if record.isExpunged { continue }
                throw MailStoreError(
                    .syncChecksum,
                    "\(name) UID \(record.uid) is at or below LAST_UID \(baseLastUID) but unknown to the replica"
                )
            } else {
                appends.append(record)
            }
        }
        let newBlobs = try blobsForAppends(db, name, appends, sources)

        // Step 9: commit. Nothing below refuses.
        if let replaced { try removeMailbox(db, &files, replaced.name, now: now) }
        let id: Int64
        if let current {
            id = current.id
        } else {
            id = try insertReplicaMailbox(db, &files, incoming, now: now)
        }
        var liveDelta = 0
        var bytesDelta: Int64 = 0
        var highest = max(baseModSeq, incoming.highestModSeq)
        var flagsChanged = false
        var expunged = false
        let rewrite = try db.cachedStatement(
            sql: """
                UPDATE records SET modseq = ?, last_updated = ?, internaldate = ?, savedate = ?, createdmodseq = ?,
                  system_flags = ?, keywords = ?, expunged = ? WHERE mailbox_id = ? AND uid = ?
                """
        )
        for (record, replica) in updates {
            try rewrite.execute(arguments: [
                Int64(record.modSeq.rawValue), record.lastUpdated, record.internalDate, record.saveDate,
                Int64(record.createdModSeq.rawValue), record.flags.systemMask, record.flags.keywordString,
                record.isExpunged ? 1 : 0, id, Int64(record.uid.rawValue),
            ])
            if record.isExpunged && replica.isExpunged {
                expunged = true
            } else if record.isExpunged {
                try releaseBlob(db, replica.guid.hex)
                liveDelta -= 1
                bytesDelta -= replica.size
                expunged = true
            } else {
                flagsChanged = true
            }
            try replaceRecordAnnotations(db, id, record)
            highest = max(highest, record.modSeq)
        }
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO records(mailbox_id, uid, modseq, last_updated, internaldate, savedate, size, guid,
                                    system_flags, keywords, expunged, createdmodseq)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        var references: [MessageGUID: Int] = [:]
        for record in appends {
            try insert.execute(arguments: [
                id, Int64(record.uid.rawValue), Int64(record.modSeq.rawValue), record.lastUpdated,
                record.internalDate, record.saveDate, record.size, record.guid.hex, record.flags.systemMask,
                record.flags.keywordString, record.isExpunged ? 1 : 0, Int64(record.createdModSeq.rawValue),
            ])
            if !record.isExpunged {
                references[record.guid, default: 0] += 1
                liveDelta += 1
                bytesDelta += record.size
            }
            try replaceRecordAnnotations(db, id, record)
            highest = max(highest, record.modSeq)
        }
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO blobs(guid, partition, size, refcount, data) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(guid) DO UPDATE SET refcount = refcount + excluded.refcount
                """
        )
        for (guid, count) in references.sorted(by: { $0.key < $1.key }) {
            let staged = newBlobs[guid]
            try upsert.execute(arguments: [
                guid.hex, partition, staged?.size ?? 0, count, staged?.inlineBytes.map { Data($0.readableBytesView) },
            ])
            if let header = staged?.header {
                try db.cachedStatement(sql: "INSERT OR IGNORE INTO headers(guid, data) VALUES (?, ?)")
                    .execute(arguments: [guid.hex, Data(header.readableBytesView)])
            }
        }
        // The header: the master's values, but UIDVALIDITY, HIGHESTMODSEQ and LAST_UID never go
        // down (§5.5), and never below what the records now say (`check`'s invariants).
        let uidValidity = max(
            incoming.uidValidity,
            current?.mailbox.uidValidity ?? replaced?.uidValidity ?? UIDValidity(0)
        )
        let lastUID = max(baseLastUID, incoming.lastUID, appends.last?.uid.rawValue ?? 0)
        try db.execute(
            sql: """
                UPDATE mailboxes SET uidvalidity = ?, last_uid = ?, highestmodseq = ?, createdmodseq = ?, foldermodseq = ?,
                  recentuid = ?, recenttime = ?, last_appenddate = ?, pop3_last_login = ?, pop3_show_after = ?,
                  options = ?, acl = ? WHERE id = ?
                """,
            arguments: [
                Int64(uidValidity.rawValue), Int64(lastUID), Int64(highest.rawValue),
                Int64(incoming.createdModSeq.rawValue), Int64(incoming.folderModSeq.rawValue),
                Int64(incoming.recentUID), incoming.recentTime, incoming.lastAppendDate, incoming.pop3LastLogin,
                incoming.pop3ShowAfter, incoming.options, incoming.acl.cyrusString, id,
            ]
        )
        try raiseUIDValidityCounter(db, to: uidValidity)
        let quotaRoot = try String.fetchOne(db, sql: "SELECT quotaroot FROM mailboxes WHERE id = ?", arguments: [id])
        try adjustUsage(db, mailboxID: id, quotaRoot: quotaRoot, messages: liveDelta, bytes: bytesDelta)
        let annotationsChanged = try replaceMailboxAnnotations(db, id, update.annotations)
        // Change events, so IDLE sessions and the replication log see what the replica did.
        var kinds: [ChangeEvent.Kind] = []
        if !appends.isEmpty { kinds.append(.append) }
        if flagsChanged { kinds.append(.flags) }
        if expunged { kinds.append(.expunge) }
        if let existing = current?.mailbox, annotationsChanged || headerChanged(existing, incoming, uidValidity) {
            kinds.append(.mailboxMeta)
        }
        for kind in kinds {
            try recordChange(
                db,
                &files,
                kind: kind,
                user: name.owner?.name,
                mailbox: name.internalName,
                uniqueID: incoming.uniqueID,
                modSeq: highest,
                now: now
            )
        }
        guard
            let result = try Row.fetchOne(
                db,
                sql: "SELECT \(Self.mailboxColumns) FROM mailboxes WHERE id = ?",
                arguments: [id]
            )
        else {
            throw MailStoreError(.corrupted, "mailbox \(name) vanished during its own update")
        }
        return try replicaState(db, result, selecting: .none)
    }

    /// Whether a replica record already has every field (and annotation) of the master's.
    private static func sameRecord(_ replica: ReplicaRecord, _ incoming: ReplicaRecord) -> Bool {
        var mine = replica
        mine.annotations = []
        var master = incoming
        master.annotations = []
        let theirs = incoming.annotations.compactMap { entry -> Annotation? in
            guard entry.value != nil else { return nil }
            return Annotation(
                uid: incoming.uid,
                entry: entry.entry,
                userID: entry.userID,
                value: entry.value,
                modSeq: entry.modSeq ?? ModSeq(0)
            )
        }
        return mine == master && Set(replica.annotations) == Set(theirs)
    }

    /// Step 7: an incoming header older than the replica's means the master is behind.
    private static func sanityCheck(_ existing: Mailbox, _ incoming: Mailbox) throws {
        let name = existing.name
        if incoming.highestModSeq < existing.highestModSeq {
            throw MailStoreError(
                .syncChecksum,
                "\(name): HIGHESTMODSEQ \(incoming.highestModSeq) below the replica's \(existing.highestModSeq)"
            )
        }
        if incoming.uidValidity < existing.uidValidity {
            throw MailStoreError(
                .syncChecksum,
                "\(name): UIDVALIDITY \(incoming.uidValidity) below the replica's \(existing.uidValidity)"
            )
        }
        if incoming.lastUID < existing.lastUID {
            throw MailStoreError(
                .syncChecksum,
                "\(name): LAST_UID \(incoming.lastUID) below the replica's \(existing.lastUID)"
            )
        }
    }

    /// Decides, before any write, where the bytes of each new live record come from: a message
    /// the store already holds, else the caller's upload. Returns the uploads to register.
    private static func blobsForAppends(
        _ db: Database,
        _ name: MailboxName,
        _ appends: [ReplicaRecord],
        _ sources: ReplicaByteSources
    ) throws -> [MessageGUID: StagedMessage] {
        var sizes: [MessageGUID: Set<Int64>] = [:]
        for record in appends where !record.isExpunged { sizes[record.guid, default: []].insert(record.size) }
        var uploads: [MessageGUID: StagedMessage] = [:]
        let stored = try db.cachedStatement(sql: "SELECT size FROM blobs WHERE guid = ?")
        for (guid, recordSizes) in sizes.sorted(by: { $0.key < $1.key }) {
            let size: Int64
            if let held = try Int64.fetchOne(stored, arguments: [guid.hex]) {
                size = held
            } else {
                if let failure = sources.failures[guid.hex] { throw failure }
                guard let staged = sources.messages[guid], staged.guid == guid,
                    staged.inlineBytes != nil || sources.durableFiles.contains(guid.hex)
                else {
                    throw MailStoreError(.nonexistent, "no bytes for message \(guid.hex) (appended to \(name))")
                }
                size = staged.size
                uploads[guid] = staged
            }
            guard recordSizes == [size] else {
                throw MailStoreError(
                    .syncChecksum,
                    "message \(guid.hex) has \(size) bytes, records in \(name) say \(recordSizes.sorted())"
                )
            }
        }
        return uploads
    }

    /// Creates the mailbox an update names, with the master's identity and header values.
    private static func insertReplicaMailbox(
        _ db: Database,
        _ files: inout BatchFiles,
        _ incoming: Mailbox,
        now: UnixTime
    ) throws -> Int64 {
        let name = incoming.name
        try db.execute(
            sql: """
                INSERT INTO mailboxes(uniqueid, name, owner, partition, acl, uidvalidity, highestmodseq, createdmodseq,
                                      foldermodseq, options, mbtype, quotaroot)
                VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)
                """,
            arguments: [
                incoming.uniqueID, name.internalName, name.owner?.name, incoming.partition, incoming.acl.cyrusString,
                Int64(incoming.uidValidity.rawValue), Int64(incoming.createdModSeq.rawValue),
                Int64(incoming.folderModSeq.rawValue), incoming.options, incoming.mailboxType,
                try nearestQuotaRoot(db, name),
            ]
        )
        let id = db.lastInsertedRowID
        try recordChange(
            db,
            &files,
            kind: .mailboxCreate,
            user: name.owner?.name,
            mailbox: name.internalName,
            uniqueID: incoming.uniqueID,
            modSeq: incoming.createdModSeq,
            now: now
        )
        return id
    }

    /// Keeps the last-handed-out UIDVALIDITY at or above a replicated one, so a mailbox created
    /// locally later never takes a value the master already used.
    private static func raiseUIDValidityCounter(_ db: Database, to value: UIDValidity) throws {
        try db.execute(
            sql: """
                INSERT INTO counters(name, value) VALUES ('uidvalidity', ?)
                ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)
                """,
            arguments: [Int64(value.rawValue)]
        )
    }

    /// A record's annotations become exactly the master's set (replica-only ones removed).
    private static func replaceRecordAnnotations(_ db: Database, _ id: Int64, _ record: ReplicaRecord) throws {
        let uid = Int64(record.uid.rawValue)
        try db.cachedStatement(sql: "DELETE FROM annotations WHERE mailbox_id = ? AND uid = ?")
            .execute(arguments: [id, uid])
        try insertAnnotations(db, id, uid: uid, record.annotations)
    }

    /// The mailbox-level annotations become exactly `annotations`; returns whether they changed.
    private static func replaceMailboxAnnotations(
        _ db: Database,
        _ id: Int64,
        _ annotations: [Annotation]
    ) throws -> Bool {
        let before = try Row.fetchAll(
            db,
            sql: "SELECT * FROM annotations WHERE mailbox_id = ? AND uid = 0",
            arguments: [id]
        ).map(annotation(from:))
        try db.execute(sql: "DELETE FROM annotations WHERE mailbox_id = ? AND uid = 0", arguments: [id])
        try insertAnnotations(db, id, uid: 0, annotations)
        let after = try Row.fetchAll(
            db,
            sql: "SELECT * FROM annotations WHERE mailbox_id = ? AND uid = 0",
            arguments: [id]
        ).map(annotation(from:))
        return Set(before) != Set(after)
    }

    /// Inserts annotations with their own modseq (0 when absent); valueless entries are absent.
    private static func insertAnnotations(_ db: Database, _ id: Int64, uid: Int64, _ annotations: [Annotation]) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO annotations(mailbox_id, uid, entry, userid, value, modseq) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(mailbox_id, uid, entry, userid) DO UPDATE SET value = excluded.value, modseq = excluded.modseq
                """
        )
        for annotation in annotations {
            guard let value = annotation.value else { continue }
            try statement.execute(arguments: [
                id, uid, annotation.entry, annotation.userID, Data(value), Int64(annotation.modSeq?.rawValue ?? 0),
            ])
        }
    }

    /// Whether the update changes header fields other than the counters.
    private static func headerChanged(_ existing: Mailbox, _ incoming: Mailbox, _ uidValidity: UIDValidity) -> Bool {
        existing.acl != incoming.acl || existing.uidValidity != uidValidity
            || existing.createdModSeq != incoming.createdModSeq || existing.folderModSeq != incoming.folderModSeq
            || existing.recentUID != incoming.recentUID || existing.recentTime != incoming.recentTime
            || existing.lastAppendDate != incoming.lastAppendDate || existing.pop3LastLogin != incoming.pop3LastLogin
            || existing.pop3ShowAfter != incoming.pop3ShowAfter || existing.options != incoming.options
    }
}

extension SQLiteMailStore {
    public func deletedMailboxes(uniqueIDs: [String]) async throws(MailStoreError) -> Set<String> {
        guard !uniqueIDs.isEmpty else { return [] }
        return try await read { db in
            var found = Set<String>()
            let statement = try db.cachedStatement(sql: "SELECT 1 FROM mailbox_tombstones WHERE uniqueid = ?")
            for uniqueID in uniqueIDs where try Bool.fetchOne(statement, arguments: [uniqueID]) == true {
                found.insert(uniqueID)
            }
            return found
        }
    }
}
