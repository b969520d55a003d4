import GRDB
import MailCore
import MailStore
import Synchronization

import struct Foundation.Data

extension SQLiteMailStore {
    public func deliver(
        _ message: StagedMessage,
        to targets: [DeliveryTarget]
    ) async -> [Result<AppendedMessage, MailStoreError>] {
        let now = clock()
        return await withCheckedContinuation { continuation in
            submit(
                DeliveryJob(
                    message: message,
                    targets: targets,
                    partition: configuration.defaultPartition,
                    blobs: blobs,
                    now: now,
                    continuation: continuation
                )
            )
        }
    }
}

/// Delivers one staged message to several mailboxes inside a group-commit batch.
///
/// `prepareFiles` places the message file (or notes that the GUID is already stored) before the
/// batch's single file-system sync; `apply` then appends one record per target, each in its own
/// savepoint, so an over-quota or missing mailbox fails that target alone.
final class DeliveryJob: WriteJob {
    var needsSavepoint: Bool { false }
    private let message: StagedMessage
    private let targets: [DeliveryTarget]
    private let partition: String
    private let blobs: BlobStore
    private let now: UnixTime
    private let continuation: CheckedContinuation<[Result<AppendedMessage, MailStoreError>], Never>
    private let state = Mutex<State>(State())

    private struct State {
        var fileError: MailStoreError?
        var results: [Result<AppendedMessage, MailStoreError>] = []
    }

    init(
        message: StagedMessage,
        targets: [DeliveryTarget],
        partition: String,
        blobs: BlobStore,
        now: UnixTime,
        continuation: CheckedContinuation<[Result<AppendedMessage, MailStoreError>], Never>
    ) {
        self.message = message
        self.targets = targets
        self.partition = partition
        self.blobs = blobs
        self.now = now
        self.continuation = continuation
    }

    func prepareFiles(_ db: Database, _ batch: inout BatchFiles, _ placing: PlacementLedger) throws {
        let hex = message.guid.hex
        // Durable already: committed in an earlier batch (GC never overlaps this stage), placed
        // by this batch, or placed and synced by a batch that is still committing.
        let committed =
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM blobs WHERE guid = ?"), arguments: [hex]) == true
        // Inline messages have no file: their bytes go into the row, in the commit itself.
        if committed || batch.knownBlobs.contains(hex) || placing.contains(hex) || message.inlineBytes != nil {
            batch.knownBlobs.insert(hex)
            if message.inlineBytes == nil { unlinkQuietly(message.token) }
            return
        }
        do {
            batch.directoriesToSync.formUnion(
                try blobs.promote(stagingPath: message.token, to: message.guid, partition: partition)
            )
        } catch {
            unlinkQuietly(message.token)
            state.withLock { $0.fileError = error }
            return
        }
        placing.insert(hex)
        batch.placed.append(hex)
        batch.knownBlobs.insert(hex)
    }

    func apply(_ db: Database, _ batch: inout BatchFiles) throws {
        if let fileError = state.withLock({ $0.fileError }) {
            state.withLock { $0.results = targets.map { _ in .failure(fileError) } }
            return
        }
        var results: [Result<AppendedMessage, MailStoreError>] = []
        for target in targets {
            // Refusals (missing mailbox, quota) are decided before this target writes anything,
            // so no savepoint is needed; an error after the first write fails the whole batch,
            // and nothing of it is acknowledged.
            switch try validate(db, target) {
            case .failure(let refusal):
                results.append(.failure(refusal))
            case .success(let mailbox):
                results.append(.success(try append(db, &batch, target, mailbox)))
            }
        }
        // The file is durable (synced by the file stage). One upsert registers it and counts the
        // copies just appended; with none, the row stays unreferenced for garbage collection.
        let copies = results.filter { if case .success = $0 { true } else { false } }.count
        // A committed row keeps its bytes where they are; only the count changes.
        let inline = message.inlineBytes.map { Data($0.readableBytesView) }
        try db.cachedStatement(
            sql: """
                INSERT INTO blobs(guid, partition, size, refcount, data) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(guid) DO UPDATE SET refcount = refcount + excluded.refcount
                """
        ).execute(arguments: [message.guid.hex, partition, message.size, copies, inline])
        if let header = message.header, copies > 0 {
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO headers(guid, data) VALUES (?, ?)")
                .execute(arguments: [message.guid.hex, Data(header.readableBytesView)])
        }
        state.withLock { $0.results = results }
    }

    /// What `append` needs of the target mailbox.
    private struct TargetMailbox {
        var id: Int64
        var uniqueID: String
        var uidValidity: Int64
        var lastUID: Int64
        var highestModSeq: Int64
        var quotaRoot: String?
    }

    private func validate(_ db: Database, _ target: DeliveryTarget) throws -> Result<TargetMailbox, MailStoreError> {
        let lookup = try db.cachedStatement(
            sql: """
                SELECT m.id, m.uniqueid, m.uidvalidity, m.last_uid, m.highestmodseq, m.quotaroot,
                       q.storage_limit, q.message_limit, q.storage_used, q.messages_used
                FROM mailboxes m LEFT JOIN quotaroots q ON q.root = m.quotaroot WHERE m.name = ?
                """
        )
        guard let row = try Row.fetchOne(lookup, arguments: [target.mailbox.internalName]) else {
            return .failure(MailStoreError(.nonexistent, "mailbox \(target.mailbox) does not exist"))
        }
        let mailbox = TargetMailbox(
            id: row[0],
            uniqueID: row[1],
            uidValidity: row[2],
            lastUID: row[3],
            highestModSeq: row[4],
            quotaRoot: row[5]
        )
        if let root = mailbox.quotaRoot, target.enforceQuota, let used: Int64 = row[8] {
            let quota = QuotaRoot(
                root: root,
                storageLimitKiB: row[6],
                messageLimit: row[7],
                storageUsedBytes: used,
                messagesUsed: row[9]
            )
            if quota.wouldExceed(addingBytes: message.size, messages: 1) {
                return .failure(MailStoreError(.overQuota, "quota root \(root) would be exceeded"))
            }
        }
        return .success(mailbox)
    }

    private func append(
        _ db: Database,
        _ batch: inout BatchFiles,
        _ target: DeliveryTarget,
        _ mailbox: TargetMailbox
    )
        throws -> AppendedMessage
    {
        let uid = UInt32(mailbox.lastUID) + 1
        let modseq = ModSeq(UInt64(mailbox.highestModSeq)).next
        try db.cachedStatement(
            sql: """
                INSERT INTO records(mailbox_id, uid, modseq, last_updated, internaldate, savedate, size, guid,
                                    system_flags, keywords)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            mailbox.id, Int64(uid), Int64(modseq.rawValue), now, target.internalDate, now, message.size,
            message.guid.hex, target.flags.systemMask, target.flags.keywordString,
        ])
        try db.cachedStatement(
            sql: """
                UPDATE mailboxes SET last_uid = ?, highestmodseq = ?, message_count = message_count + 1,
                  total_size = total_size + ?, last_appenddate = ? WHERE id = ?
                """
        ).execute(arguments: [Int64(uid), Int64(modseq.rawValue), message.size, now, mailbox.id])
        if let quotaRoot = mailbox.quotaRoot {
            try db.cachedStatement(
                sql:
                    "UPDATE quotaroots SET storage_used = storage_used + ?, messages_used = messages_used + 1 WHERE root = ?"
            ).execute(arguments: [message.size, quotaRoot])
        }
        try SQLiteMailStore.recordChange(
            db,
            &batch,
            kind: .append,
            user: target.mailbox.owner?.name,
            mailbox: target.mailbox.internalName,
            uniqueID: mailbox.uniqueID,
            modSeq: modseq,
            now: now
        )
        return AppendedMessage(
            mailbox: target.mailbox,
            uidValidity: UIDValidity(UInt32(mailbox.uidValidity)),
            uid: UID(uid),
            modSeq: modseq
        )
    }

    func finish(commitError: MailStoreError?, events: [ChangeEvent]) {
        if let commitError {
            continuation.resume(returning: targets.map { _ in .failure(commitError) })
        } else {
            continuation.resume(returning: state.withLock { $0.results })
        }
    }
}
