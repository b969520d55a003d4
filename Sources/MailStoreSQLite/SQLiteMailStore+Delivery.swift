import GRDB
import MailCore
import MailStore
import Synchronization

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

    func prepareFiles(_ db: Database, _ batch: inout BatchFiles) throws {
        let hex = message.guid.hex
        let stored = try Bool.fetchOne(db, sql: "SELECT 1 FROM blobs WHERE guid = ?", arguments: [hex]) == true
        if batch.knownBlobs.contains(hex) || stored {
            batch.knownBlobs.insert(hex)
            batch.stagingToRemove.append(message.token)
            return
        }
        do {
            try blobs.promote(stagingPath: message.token, to: message.guid, partition: partition)
        } catch {
            batch.stagingToRemove.append(message.token)
            state.withLock { $0.fileError = error }
            return
        }
        // The row starts unreferenced: if every target fails, garbage collection removes the file.
        try db.execute(
            sql: "INSERT INTO blobs(guid, partition, size, refcount) VALUES (?, ?, ?, 0)",
            arguments: [hex, partition, message.size]
        )
        batch.knownBlobs.insert(hex)
        batch.partitionsToSync.insert(partition)
    }

    func apply(_ db: Database, _ batch: inout BatchFiles) throws {
        if let fileError = state.withLock({ $0.fileError }) {
            state.withLock { $0.results = targets.map { _ in .failure(fileError) } }
            return
        }
        var results: [Result<AppendedMessage, MailStoreError>] = []
        for target in targets {
            var appended: AppendedMessage?
            var failure: MailStoreError?
            try db.inSavepoint {
                do {
                    appended = try append(db, &batch, target)
                    return .commit
                } catch {
                    failure = MailStoreError(mapping: error)
                    return .rollback
                }
            }
            results.append(appended.map { .success($0) } ?? .failure(failure!))
        }
        state.withLock { $0.results = results }
    }

    private func append(_ db: Database, _ batch: inout BatchFiles, _ target: DeliveryTarget) throws -> AppendedMessage {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql:
                        "SELECT id, uniqueid, uidvalidity, last_uid, highestmodseq, quotaroot FROM mailboxes WHERE name = ?"
                ),
                arguments: [target.mailbox.internalName]
            )
        else {
            throw MailStoreError(.nonexistent, "mailbox \(target.mailbox) does not exist")
        }
        let id: Int64 = row["id"]
        let quotaRoot: String? = row["quotaroot"]
        if let quotaRoot, target.enforceQuota, let quota = try SQLiteMailStore.fetchQuotaRoot(db, quotaRoot),
            quota.wouldExceed(addingBytes: message.size, messages: 1)
        {
            throw MailStoreError(.overQuota, "quota root \(quotaRoot) would be exceeded")
        }
        let uid = UInt32(row["last_uid"] as Int64) + 1
        let modseq = ModSeq(UInt64(row["highestmodseq"] as Int64)).next
        try db.cachedStatement(
            sql: """
                INSERT INTO records(mailbox_id, uid, modseq, last_updated, internaldate, savedate, size, guid,
                                    system_flags, keywords)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            id, Int64(uid), Int64(modseq.rawValue), now, target.internalDate, now, message.size, message.guid.hex,
            target.flags.systemMask, target.flags.keywordString,
        ])
        try db.cachedStatement(
            sql: """
                UPDATE mailboxes SET last_uid = ?, highestmodseq = ?, message_count = message_count + 1,
                  total_size = total_size + ?, last_appenddate = ? WHERE id = ?
                """
        ).execute(arguments: [Int64(uid), Int64(modseq.rawValue), message.size, now, id])
        if let quotaRoot {
            try db.cachedStatement(
                sql:
                    "UPDATE quotaroots SET storage_used = storage_used + ?, messages_used = messages_used + 1 WHERE root = ?"
            ).execute(arguments: [message.size, quotaRoot])
        }
        try db.cachedStatement(sql: "UPDATE blobs SET refcount = refcount + 1 WHERE guid = ?")
            .execute(arguments: [message.guid.hex])
        try SQLiteMailStore.recordChange(
            db,
            &batch,
            kind: .append,
            user: target.mailbox.owner?.name,
            mailbox: target.mailbox.internalName,
            uniqueID: row["uniqueid"],
            modSeq: modseq,
            now: now
        )
        return AppendedMessage(
            mailbox: target.mailbox,
            uidValidity: UIDValidity(UInt32(row["uidvalidity"] as Int64)),
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
