import Crypto
import GRDB
import MailCore
import MailStore

import struct Foundation.Data

extension SQLiteMailStore {
    /// Verifies the store's invariants (`corvid check`).
    ///
    /// - every referenced message file exists, has its recorded size and hashes to its GUID;
    /// - each blob's reference count equals the live records that name it;
    /// - each mailbox's count, size, `last_uid` and `highestmodseq` agree with its records;
    /// - each quota root's usage equals the sum over the mailboxes it governs;
    /// - each cached header names a stored message and (unless `verifyContent` is false) equals
    ///   that message's header.
    ///
    /// Files without a row are reported as a note, not a problem: a crash between placing a file
    /// and committing its rows leaves them, they were never acknowledged, and reconstruct removes them.
    public func check(verifyContent: Bool = true) async -> StoreCheckReport {
        var report = StoreCheckReport()
        do {
            let snapshot = try await read { db in try CheckSnapshot(db) }
            report.mailboxesChecked = snapshot.mailboxes.count
            report.recordsChecked = snapshot.recordCount
            for mailbox in snapshot.mailboxes {
                let facts = snapshot.recordFacts[mailbox.id] ?? RecordFacts()
                if facts.liveCount != mailbox.messageCount || facts.liveSize != mailbox.totalSize {
                    report.problems.append(
                        StoreProblem(
                            .countMismatch,
                            mailbox.name,
                            "index says \(mailbox.messageCount) messages / \(mailbox.totalSize) bytes, records say \(facts.liveCount) / \(facts.liveSize)"
                        )
                    )
                }
                if facts.maxUID > mailbox.lastUID {
                    report.problems.append(
                        StoreProblem(
                            .uidInvariant,
                            mailbox.name,
                            "record UID \(facts.maxUID) above last_uid \(mailbox.lastUID)"
                        )
                    )
                }
                if facts.maxModSeq > mailbox.highestModSeq {
                    report.problems.append(
                        StoreProblem(
                            .modseqInvariant,
                            mailbox.name,
                            "record modseq \(facts.maxModSeq) above highestmodseq \(mailbox.highestModSeq)"
                        )
                    )
                }
            }
            for (guid, count) in snapshot.liveReferences.sorted(by: { $0.key < $1.key }) {
                guard let blob = snapshot.blobs[guid] else {
                    report.problems.append(
                        StoreProblem(.orphanRecord, guid, "\(count) live record(s) name a GUID with no stored file")
                    )
                    continue
                }
                if blob.refcount != count {
                    report.problems.append(
                        StoreProblem(.refcountMismatch, guid, "refcount \(blob.refcount), live records \(count)")
                    )
                }
            }
            for (guid, blob) in snapshot.blobs where blob.refcount > 0 && snapshot.liveReferences[guid] == nil {
                report.problems.append(
                    StoreProblem(.refcountMismatch, guid, "refcount \(blob.refcount), live records 0")
                )
            }
            for quota in snapshot.quotaRoots {
                let used = snapshot.quotaUsage[quota.root] ?? (0, 0)
                if used.bytes != quota.storageUsedBytes || used.messages != quota.messagesUsed {
                    report.problems.append(
                        StoreProblem(
                            .quotaMismatch,
                            quota.root,
                            "usage says \(quota.storageUsedBytes) bytes / \(quota.messagesUsed) messages, mailboxes sum to \(used.bytes) / \(used.messages)"
                        )
                    )
                }
            }
            // Message files: every referenced blob must be whole.
            var onDisk = Set<String>()
            for partition in configuration.partitions.keys.sorted() {
                for guid in try blobs.allGUIDs(partition: partition) { onDisk.insert(guid.hex) }
            }
            for (hex, blob) in snapshot.blobs.sorted(by: { $0.key < $1.key }) where blob.refcount > 0 {
                guard let guid = MessageGUID(hex: hex) else { continue }
                if blob.inline {
                    report.blobsChecked += 1
                    continue
                }
                guard onDisk.contains(hex) else {
                    report.problems.append(
                        StoreProblem(.blobMissing, hex, "file missing on partition \(blob.partition)")
                    )
                    continue
                }
                report.blobsChecked += 1
                guard verifyContent else { continue }
                do {
                    let (actual, size) = try blobs.hash(guid, partition: blob.partition)
                    if actual != guid || size != blob.size {
                        report.problems.append(
                            StoreProblem(
                                .blobCorrupt,
                                hex,
                                "file hashes to \(actual) with \(size) bytes, expected \(blob.size) bytes"
                            )
                        )
                    }
                } catch {
                    report.problems.append(StoreProblem(.blobMissing, hex, "\(error)"))
                }
            }
            if verifyContent { report.problems += try await verifyInlineMessages() }
            // The header cache, compared only with messages whose bytes passed the checks above.
            let damaged = Set(report.problems.filter { [.blobMissing, .blobCorrupt].contains($0.kind) }.map(\.subject))
            let headers = try await checkHeaderCache(verifyContent: verifyContent, skipping: damaged)
            report.headersChecked = headers.checked
            report.problems += headers.problems
            let unreferenced = onDisk.subtracting(snapshot.blobs.filter { !$0.value.inline }.keys).count
            if unreferenced > 0 {
                report.notes.append(
                    "\(unreferenced) message file(s) without an index row (left by an interrupted commit; never acknowledged; reconstruct removes them)"
                )
            }
            let garbage = snapshot.blobs.values.filter { $0.refcount == 0 }.count
            if garbage > 0 {
                report.notes.append("\(garbage) unreferenced message(s) awaiting garbage collection")
            }
        } catch {
            report.problems.append(StoreProblem(.database, "corvid.db", "\(error)"))
        }
        return report
    }

    /// Hashes every referenced inline message in one read, streaming rows through a cursor;
    /// returns one problem per message whose bytes do not match their GUID and size.
    private func verifyInlineMessages() async throws -> [StoreProblem] {
        try await read { db in
            var problems: [StoreProblem] = []
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT guid, size, data FROM blobs WHERE data IS NOT NULL AND refcount > 0 ORDER BY guid"
            )
            while let row = try rows.next() {
                let hex: String = row["guid"]
                let size: Int64 = row["size"]
                let data: Data = row["data"]
                let actual = MessageGUID(bytes: Array(Insecure.SHA1.hash(data: data)))!
                if actual.hex != hex || Int64(data.count) != size {
                    problems.append(
                        StoreProblem(
                            .blobCorrupt,
                            hex,
                            "inline bytes hash to \(actual) with \(data.count) bytes, expected \(size) bytes"
                        )
                    )
                }
            }
            return problems
        }
    }

    /// Rebuilds what can be derived from what is on disk (`corvid reconstruct`).
    ///
    /// Recomputes mailbox counts, `last_uid`/`highestmodseq` floors, blob reference counts and
    /// quota usage from the records; re-registers message files whose row was lost; moves files
    /// that do not hash to their GUID into `<partition>/lost+found/` and drops the records that
    /// named them; deletes files no record names; deletes cached headers whose message is gone
    /// and rewrites those that differ from their message. UIDVALIDITY is never changed. The
    /// caller must hold the serve lock. Returns one line per action taken.
    public func reconstruct() async throws(MailStoreError) -> [String] {
        var onDisk: [String: String] = [:]  // guid → partition
        for partition in configuration.partitions.keys.sorted() {
            for guid in try blobs.allGUIDs(partition: partition) { onDisk[guid.hex] = partition }
        }
        let blobStore = blobs
        let diskFiles = onDisk
        return try await write(barrier: true) { db, files in
            var actions: [String] = []
            let referenced = try Row.fetchAll(
                db,
                sql: "SELECT guid, COUNT(*) AS n, MAX(size) AS size FROM records WHERE expunged = 0 GROUP BY guid"
            )
            let blobRows = Dictionary(
                uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT guid, partition FROM blobs").map {
                    ($0["guid"] as String, $0["partition"] as String)
                }
            )
            for row in referenced {
                let hex: String = row["guid"]
                guard let guid = MessageGUID(hex: hex) else { continue }
                let partition = blobRows[hex] ?? diskFiles[hex]
                var healthy = false
                if let data = try Data.fetchOne(
                    db,
                    sql: "SELECT data FROM blobs WHERE guid = ? AND data IS NOT NULL",
                    arguments: [hex]
                ) {
                    // Inline bytes: healthy when they still hash to their GUID.
                    healthy = Array(Insecure.SHA1.hash(data: data)) == guid.bytes
                } else if let partition, diskFiles[hex] != nil,
                    let (actual, size) = try? blobStore.hash(guid, partition: partition),
                    actual == guid
                {
                    healthy = true
                    if blobRows[hex] == nil {
                        try db.execute(
                            sql: "INSERT INTO blobs(guid, partition, size, refcount) VALUES (?, ?, ?, 0)",
                            arguments: [hex, partition, size]
                        )
                        actions.append("registered message file \(hex) that had lost its index row")
                    }
                } else if let partition, diskFiles[hex] != nil {
                    let root = try blobStore.root(partition)
                    try FileOps.makeDirectories(root + "/lost+found")
                    _ = rename(try blobStore.path(of: guid, partition: partition), root + "/lost+found/" + hex)
                    actions.append("moved corrupt message file \(hex) to \(root)/lost+found")
                }
                if !healthy {
                    let lost = try Row.fetchAll(
                        db,
                        sql:
                            "SELECT m.name AS name, r.uid AS uid FROM records r JOIN mailboxes m ON m.id = r.mailbox_id WHERE r.guid = ? AND r.expunged = 0",
                        arguments: [hex]
                    )
                    for item in lost {
                        actions.append(
                            "removed record \(item["name"] as String) UID \(item["uid"] as Int64): its message \(hex) is missing or corrupt"
                        )
                    }
                    try db.execute(sql: "DELETE FROM records WHERE guid = ? AND expunged = 0", arguments: [hex])
                    try db.execute(sql: "DELETE FROM blobs WHERE guid = ?", arguments: [hex])
                }
            }
            // Cached headers, now that the messages that could not be kept have lost their rows.
            actions += try Self.repairHeaderCache(db, blobStore)
            // Reference counts from the surviving records.
            try db.execute(
                sql:
                    "UPDATE blobs SET refcount = (SELECT COUNT(*) FROM records r WHERE r.guid = blobs.guid AND r.expunged = 0)"
            )
            // Mailbox counters: counts exact, UID and modseq only ever raised.
            let mailboxes = try Row.fetchAll(
                db,
                sql: "SELECT id, name, last_uid, highestmodseq, message_count, total_size FROM mailboxes"
            )
            for mailbox in mailboxes {
                let id: Int64 = mailbox["id"]
                let facts = try Row.fetchOne(
                    db,
                    sql:
                        "SELECT COUNT(*) FILTER (WHERE expunged = 0) AS n, COALESCE(SUM(size) FILTER (WHERE expunged = 0), 0) AS bytes, COALESCE(MAX(uid), 0) AS maxuid, COALESCE(MAX(modseq), 0) AS maxmodseq FROM records WHERE mailbox_id = ?",
                    arguments: [id]
                )!
                let count: Int64 = facts["n"]
                let bytes: Int64 = facts["bytes"]
                let lastUID = max(mailbox["last_uid"] as Int64, facts["maxuid"] as Int64)
                let highest = max(mailbox["highestmodseq"] as Int64, facts["maxmodseq"] as Int64)
                if count != mailbox["message_count"] as Int64 || bytes != mailbox["total_size"] as Int64
                    || lastUID != mailbox["last_uid"] as Int64 || highest != mailbox["highestmodseq"] as Int64
                {
                    try db.execute(
                        sql:
                            "UPDATE mailboxes SET message_count = ?, total_size = ?, last_uid = ?, highestmodseq = ? WHERE id = ?",
                        arguments: [count, bytes, lastUID, highest, id]
                    )
                    actions.append("recomputed counters of \(mailbox["name"] as String)")
                }
            }
            for root in try String.fetchAll(db, sql: "SELECT root FROM quotaroots") {
                try Self.recomputeQuotaUsage(db, root)
            }
            // Files that no row names were never acknowledged: remove them.
            let known = Set(try String.fetchAll(db, sql: "SELECT guid FROM blobs WHERE data IS NULL"))
            for (hex, partition) in diskFiles where !known.contains(hex) {
                files.blobsToRemove.append((hex, partition))
            }
            if !files.blobsToRemove.isEmpty {
                actions.append("removed \(files.blobsToRemove.count) message file(s) that no index row names")
            }
            return actions
        }
    }
}

/// What `check` reads in one consistent snapshot.
private struct CheckSnapshot {
    struct MailboxFacts {
        var id: Int64
        var name: String
        var messageCount: Int64
        var totalSize: Int64
        var lastUID: Int64
        var highestModSeq: Int64
    }
    struct BlobFacts {
        var partition: String
        var size: Int64
        var refcount: Int64
        /// The bytes live in the row, not in a file.
        var inline: Bool
    }

    var mailboxes: [MailboxFacts] = []
    var recordFacts: [Int64: RecordFacts] = [:]
    var recordCount = 0
    var liveReferences: [String: Int64] = [:]
    var blobs: [String: BlobFacts] = [:]
    var quotaRoots: [QuotaRoot] = []
    var quotaUsage: [String: (bytes: Int64, messages: Int64)] = [:]

    init(_ db: Database) throws {
        for row in try Row.fetchAll(
            db,
            sql: "SELECT id, name, message_count, total_size, last_uid, highestmodseq, quotaroot FROM mailboxes"
        ) {
            let facts = MailboxFacts(
                id: row["id"],
                name: row["name"],
                messageCount: row["message_count"],
                totalSize: row["total_size"],
                lastUID: row["last_uid"],
                highestModSeq: row["highestmodseq"]
            )
            mailboxes.append(facts)
            if let root: String = row["quotaroot"] {
                let current = quotaUsage[root] ?? (0, 0)
                quotaUsage[root] = (current.bytes + facts.totalSize, current.messages + facts.messageCount)
            }
        }
        for row in try Row.fetchAll(
            db,
            sql:
                "SELECT mailbox_id, COUNT(*) AS n, COUNT(*) FILTER (WHERE expunged = 0) AS live, COALESCE(SUM(size) FILTER (WHERE expunged = 0), 0) AS bytes, MAX(uid) AS maxuid, MAX(modseq) AS maxmodseq FROM records GROUP BY mailbox_id"
        ) {
            recordFacts[row["mailbox_id"]] = RecordFacts(
                liveCount: row["live"],
                liveSize: row["bytes"],
                maxUID: row["maxuid"],
                maxModSeq: row["maxmodseq"]
            )
            recordCount += row["n"] as Int
        }
        for row in try Row.fetchAll(db, sql: "SELECT guid, COUNT(*) AS n FROM records WHERE expunged = 0 GROUP BY guid")
        {
            liveReferences[row["guid"]] = row["n"]
        }
        for row in try Row.fetchAll(
            db,
            sql: "SELECT guid, partition, size, refcount, data IS NOT NULL AS inline FROM blobs"
        ) {
            blobs[row["guid"]] = BlobFacts(
                partition: row["partition"],
                size: row["size"],
                refcount: row["refcount"],
                inline: row["inline"]
            )
        }
        quotaRoots = try Row.fetchAll(db, sql: "SELECT * FROM quotaroots").map(SQLiteMailStore.quotaRoot(from:))

    }
}

private struct RecordFacts {
    var liveCount: Int64 = 0
    var liveSize: Int64 = 0
    var maxUID: Int64 = 0
    var maxModSeq: Int64 = 0
}

extension CheckSnapshot: Sendable {}
extension CheckSnapshot.MailboxFacts: Sendable {}
extension CheckSnapshot.BlobFacts: Sendable {}
extension RecordFacts: Sendable {}

#if canImport(Glibc)
import Glibc
#endif
