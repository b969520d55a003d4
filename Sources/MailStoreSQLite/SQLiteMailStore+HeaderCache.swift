import GRDB
import MailCore
import MailStore
import NIOCore

import struct Foundation.Data

extension SQLiteMailStore {
    /// Checks every row of the header cache, for ``check(verifyContent:)``.
    ///
    /// A row whose GUID has no blob row is an orphan: the garbage collector deletes a header with
    /// its message, so nothing else should remove the message alone. With `verifyContent`, each
    /// row must also equal the header ``HeaderCache`` takes from its message's bytes; messages in
    /// `unverifiable` (already reported missing or corrupt) are not compared. Rows are read in
    /// short batches, and messages one at a time and only their first ``HeaderCache/limit``
    /// bytes, so memory stays bounded however large the store is.
    func checkHeaderCache(
        verifyContent: Bool,
        skipping unverifiable: Set<String>
    ) async throws(MailStoreError) -> (checked: Int, problems: [StoreProblem]) {
        let blobStore = blobs
        var checked = 0
        var problems: [StoreProblem] = []
        var after = ""
        while true {
            let start = after
            let batch = try await read { db -> (last: String?, count: Int, problems: [StoreProblem]) in
                let rows = try CachedHeaderRow.batch(db, after: start, withContent: verifyContent)
                var found: [StoreProblem] = []
                for row in rows where !unverifiable.contains(row.guid) {
                    if let problem = try row.verdict(db, blobStore).problem(row) { found.append(problem) }
                }
                return (rows.last?.guid, rows.count, found)
            }
            checked += batch.count
            problems += batch.problems
            guard let last = batch.last else { break }
            after = last
        }
        return (checked, problems)
    }

    /// Deletes header rows whose message is gone and rewrites rows that differ from their
    /// message's header (deleting them instead when that header is too long to cache), for
    /// ``reconstruct()``. Runs in reconstruct's write transaction, after the messages that
    /// could not be kept lost their rows. Returns one line per action.
    static func repairHeaderCache(_ db: Database, _ blobStore: BlobStore) throws -> [String] {
        var actions: [String] = []
        var after = ""
        while true {
            // A materialised batch, so no cursor is open while its rows change.
            let rows = try CachedHeaderRow.batch(db, after: after, withContent: true)
            guard let last = rows.last else { break }
            after = last.guid
            for row in rows {
                let verdict = try row.verdict(db, blobStore)
                switch verdict {
                case .consistent, .unreadable:
                    continue
                case .orphan, .differs(expected: nil):
                    try db.execute(sql: "DELETE FROM headers WHERE guid = ?", arguments: [row.guid])
                case .differs(expected: let expected?):
                    try db.execute(
                        sql: "UPDATE headers SET data = ? WHERE guid = ?",
                        arguments: [Data(expected.readableBytesView), row.guid]
                    )
                }
                if let action = verdict.repair(row) { actions.append(action) }
            }
        }
        return actions
    }
}

/// One row of the header cache, with what is needed to find its message.
private struct CachedHeaderRow {
    /// Rows per read: headers are typically 1–3 KiB and at most ``HeaderCache/limit``.
    static let batchSize = 128

    var guid: String
    /// The cached bytes; nil when the check does not compare content.
    var header: Data?
    var length: Int
    /// Whether a blob row names this GUID.
    var hasMessage: Bool
    var partition: String?
    var size: Int64
    /// The message's bytes are in its blob row rather than a file.
    var inline: Bool

    /// The next rows in GUID order after `guid` (keyset pagination, so each read is short).
    static func batch(_ db: Database, after guid: String, withContent: Bool) throws -> [CachedHeaderRow] {
        let header = withContent ? "h.data" : "NULL"
        return try Row.fetchAll(
            db,
            sql: """
                SELECT h.guid AS guid, \(header) AS header, length(h.data) AS length, b.guid IS NOT NULL AS known,
                       b.partition AS partition, COALESCE(b.size, 0) AS size, b.data IS NOT NULL AS inline
                FROM headers h LEFT JOIN blobs b ON b.guid = h.guid
                WHERE h.guid > ? ORDER BY h.guid LIMIT ?
                """,
            arguments: [guid, batchSize]
        ).map { row in
            CachedHeaderRow(
                guid: row["guid"],
                header: row["header"],
                length: row["length"],
                hasMessage: row["known"],
                partition: row["partition"],
                size: row["size"],
                inline: row["inline"]
            )
        }
    }

    /// Compares the row with its message when the row carries its bytes.
    func verdict(_ db: Database, _ blobs: BlobStore) throws -> HeaderVerdict {
        guard hasMessage else { return .orphan }
        guard let header else { return .consistent }
        let limit = HeaderCache.limit
        let start: ByteBuffer
        if inline {
            let data = try Data.fetchOne(
                db.cachedStatement(sql: "SELECT substr(data, 1, ?) FROM blobs WHERE guid = ?"),
                arguments: [limit, guid]
            )
            start = ByteBuffer(bytes: data ?? Data())
        } else {
            // A missing or unreadable file is the blob check's problem, not the cache's.
            guard let partition, let message = MessageGUID(hex: guid),
                let bytes = try? blobs.read(message, partition: partition, upTo: limit)
            else { return .unreadable }
            start = bytes
        }
        // Shorter than the recorded size says: the bytes are damaged, which the blob check reports.
        guard start.readableBytes >= min(size, Int64(limit)) else { return .unreadable }
        let expected = HeaderCache.cachedLength(start: start.readableBytesView, messageSize: size).map {
            start.getSlice(at: start.readerIndex, length: $0)!
        }
        if let expected, header.elementsEqual(expected.readableBytesView) { return .consistent }
        return .differs(expected: expected)
    }
}

/// How one header row stands against its message.
private enum HeaderVerdict {
    case consistent
    /// No blob row names the GUID.
    case orphan
    /// The message's bytes could not be read; other checks report why.
    case unreadable
    /// The row differs from what the cache should hold: `expected`, or nothing when the
    /// message's header is too long to cache.
    case differs(expected: ByteBuffer?)

    /// What `check` reports for `row`, if anything.
    func problem(_ row: CachedHeaderRow) -> StoreProblem? {
        switch self {
        case .consistent, .unreadable:
            return nil
        case .orphan:
            return StoreProblem(
                .headerCache,
                row.guid,
                "cached header (\(row.length) bytes) of a GUID with no stored message"
            )
        case .differs:
            return StoreProblem(.headerCache, row.guid, mismatch(row))
        }
    }

    /// What `reconstruct` reports having done about `row`, if anything.
    func repair(_ row: CachedHeaderRow) -> String? {
        switch self {
        case .consistent, .unreadable:
            return nil
        case .orphan:
            return "removed cached header of \(row.guid): no stored message has that GUID"
        case .differs(expected: nil):
            return "removed cached header of \(row.guid): \(mismatch(row))"
        case .differs(expected: .some):
            return "rewrote cached header of \(row.guid) from its message: \(mismatch(row))"
        }
    }

    private func mismatch(_ row: CachedHeaderRow) -> String {
        guard case .differs(let expected) = self else { return "" }
        guard let expected else {
            return
                "cached \(row.length) bytes, but the message's header is over the \(HeaderCache.limit)-byte cache limit"
        }
        let same = expected.readableBytes == row.length ? " (same length, different bytes)" : ""
        return "cached \(row.length) bytes, message header \(expected.readableBytes) bytes\(same)"
    }
}

extension CachedHeaderRow: Sendable {}
extension HeaderVerdict: Sendable {}
