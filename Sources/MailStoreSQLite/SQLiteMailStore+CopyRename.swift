import GRDB
import MailCore
import MailStore

/// COPY, MOVE and RENAME: writes that touch two mailboxes in one transaction.
extension SQLiteMailStore {
    public func copyMessages(
        uids: [UID],
        from source: MailboxName,
        to destination: MailboxName,
        move: Bool
    ) async throws(MailStoreError) -> CopyResult {
        let now = clock()
        return try await write { db, files in
            try Self.copyRecords(db, &files, uids: uids, from: source, to: destination, move: move, now: now)
        }
    }

    /// Copies live records from `source` to `destination` (same GUIDs, flags and internal
    /// dates; new UIDs, modseq and savedate), expunging the originals when `move` is set.
    static func copyRecords(
        _ db: Database,
        _ files: inout BatchFiles,
        uids: [UID],
        from source: MailboxName,
        to destination: MailboxName,
        move: Bool,
        now: UnixTime
    ) throws -> CopyResult {
        guard let from = try fetchMailbox(db, source) else {
            throw MailStoreError(.nonexistent, "mailbox \(source) does not exist")
        }
        guard var to = try fetchMailbox(db, destination) else {
            throw MailStoreError(.nonexistent, "mailbox \(destination) does not exist")
        }
        guard source != destination || !move else {
            throw MailStoreError(.invalidArgument, "cannot move messages into the mailbox they are in")
        }
        let fromID = try mailboxID(db, source)
        let toID = try mailboxID(db, destination)
        let select = try db.cachedStatement(
            sql: "SELECT * FROM records WHERE mailbox_id = ? AND uid = ? AND expunged = 0"
        )
        var records: [MessageRecord] = []
        for uid in uids.sorted() {
            if let row = try Row.fetchOne(select, arguments: [fromID, Int64(uid.rawValue)]) {
                records.append(try record(from: row))
            }
        }
        guard !records.isEmpty else { return CopyResult(uidValidity: to.uidValidity, pairs: []) }
        let bytes = records.reduce(Int64(0)) { $0 + $1.size }
        // A move within one quota root changes no usage.
        let sameRoot = move && from.quotaRoot == to.quotaRoot
        if let root = to.quotaRoot, !sameRoot, let quota = try fetchQuotaRoot(db, root),
            quota.wouldExceed(addingBytes: bytes, messages: Int64(records.count))
        {
            throw MailStoreError(.overQuota, "quota root \(root) would be exceeded")
        }
        let modseq = to.highestModSeq.next
        var pairs: [(source: UID, destination: UID)] = []
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO records(mailbox_id, uid, modseq, last_updated, internaldate, savedate, size, guid,
                                    system_flags, keywords)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        for record in records {
            to.lastUID += 1
            try insert.execute(arguments: [
                toID, Int64(to.lastUID), Int64(modseq.rawValue), now, record.internalDate, now, record.size,
                record.guid.hex, record.flags.systemMask, record.flags.keywordString,
            ])
            try db.cachedStatement(sql: "UPDATE blobs SET refcount = refcount + 1 WHERE guid = ?")
                .execute(arguments: [record.guid.hex])
            pairs.append((record.uid, UID(to.lastUID)))
        }
        try db.execute(
            sql: """
                UPDATE mailboxes SET last_uid = ?, message_count = message_count + ?, total_size = total_size + ?,
                  last_appenddate = ? WHERE id = ?
                """,
            arguments: [Int64(to.lastUID), records.count, bytes, now, toID]
        )
        if let root = to.quotaRoot {
            try db.execute(
                sql:
                    "UPDATE quotaroots SET storage_used = storage_used + ?, messages_used = messages_used + ? WHERE root = ?",
                arguments: [bytes, records.count, root]
            )
        }
        try recordModification(db, &files, kind: .append, mailboxID: toID, mailbox: to, modseq: modseq, now: now)
        if move {
            try expungeRecords(db, &files, records.map(\.uid), mailboxID: fromID, mailbox: from, now: now)
        }
        return CopyResult(uidValidity: to.uidValidity, pairs: pairs)
    }

    public func renameMailbox(
        _ source: MailboxName,
        to destination: MailboxName,
        movingSubscriptions: Bool
    ) async throws(MailStoreError) {
        let now = clock()
        let partition = configuration.defaultPartition
        try await write { db, files in
            if try Self.fetchMailbox(db, destination) != nil {
                throw MailStoreError(.alreadyExists, "mailbox \(destination) already exists")
            }
            guard try Self.fetchMailbox(db, source) != nil else {
                throw MailStoreError(.nonexistent, "mailbox \(source) does not exist")
            }
            if source.isInbox {
                // RFC 9051 §6.3.6: renaming INBOX moves its messages to a new mailbox; INBOX
                // stays, empty, and its children are not renamed.
                _ = try Self.insertMailbox(db, &files, destination, acl: nil, partition: partition, now: now)
                let live = try UInt32.fetchAll(
                    db,
                    sql: "SELECT uid FROM records WHERE mailbox_id = ? AND expunged = 0",
                    arguments: [try Self.mailboxID(db, source)]
                )
                _ = try Self.copyRecords(
                    db,
                    &files,
                    uids: live.map { UID($0) },
                    from: source,
                    to: destination,
                    move: true,
                    now: now
                )
                return
            }
            guard !destination.isSelfOrDescendant(of: source) else {
                throw MailStoreError(.invalidArgument, "cannot rename \(source) into itself")
            }
            if let owner = destination.owner, !destination.isInbox, try Self.fetchMailbox(db, .inbox(of: owner)) == nil
            {
                throw MailStoreError(.nonexistent, "the INBOX of \(owner) does not exist")
            }
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT id, name FROM mailboxes WHERE name = ? OR (name > ? AND name < ?) ORDER BY name",
                arguments: [source.internalName, source.internalName + ".", source.internalName + "/"]
            )
            var roots: Set<String> = []
            for row in rows {
                let oldName: String = row["name"]
                let newName = try MailboxName(
                    internal: destination.internalName + oldName.dropFirst(source.internalName.count)
                )
                if try Self.fetchMailbox(db, newName) != nil {
                    throw MailStoreError(.alreadyExists, "mailbox \(newName) already exists")
                }
                let id: Int64 = row["id"]
                if let old = try String.fetchOne(
                    db,
                    sql: "SELECT quotaroot FROM mailboxes WHERE id = ?",
                    arguments: [id]
                ) {
                    roots.insert(old)
                }
                try db.execute(
                    sql: "UPDATE mailboxes SET name = ?, owner = ?, quotaroot = NULL WHERE id = ?",
                    arguments: [newName.internalName, newName.owner?.name, id]
                )
                let root = try Self.nearestQuotaRoot(db, newName)
                try db.execute(sql: "UPDATE mailboxes SET quotaroot = ? WHERE id = ?", arguments: [root, id])
                if let root { roots.insert(root) }
                if movingSubscriptions {
                    let subscribers = try String.fetchAll(
                        db,
                        sql: "SELECT user FROM subscriptions WHERE mailbox = ?",
                        arguments: [oldName]
                    )
                    try db.execute(
                        sql: "UPDATE subscriptions SET mailbox = ? WHERE mailbox = ?",
                        arguments: [newName.internalName, oldName]
                    )
                    // Each moved subscription is two subscription changes (the old name's and
                    // the new one's), so replication sends UNSUB and SUB.
                    for user in subscribers {
                        for name in [oldName, newName.internalName] {
                            try Self.recordChange(
                                db,
                                &files,
                                kind: .subscription,
                                user: user,
                                mailbox: name,
                                uniqueID: nil,
                                modSeq: nil,
                                now: now
                            )
                        }
                    }
                }
                guard let renamed = try Self.fetchMailbox(db, newName) else { continue }
                let modseq = renamed.highestModSeq.next
                try db.execute(
                    sql: "UPDATE mailboxes SET foldermodseq = ? WHERE id = ?",
                    arguments: [Int64(modseq.rawValue), id]
                )
                try Self.recordModification(
                    db,
                    &files,
                    kind: .mailboxRename,
                    mailboxID: id,
                    mailbox: renamed,
                    modseq: modseq,
                    now: now,
                    previousName: oldName
                )
            }
            for root in roots { try Self.recomputeQuotaUsage(db, root) }
        }
    }

    public func mailboxChanges(
        _ name: MailboxName,
        since modSeq: ModSeq?
    ) async throws(MailStoreError) -> (Mailbox, [MessageRecord])? {
        // Changes since a modseq are a few rows: read here. Every record of a mailbox (a
        // first SELECT of 100,000 messages takes a good part of a second) is read off the
        // event loop, so other sessions on it are not held up.
        guard modSeq == nil else { return try readNow { db in try Self.mailboxChanges(db, name, since: modSeq) } }
        return try await read { db in try Self.mailboxChanges(db, name, since: nil) }
    }

    /// The mailbox and its records changed since `modSeq` (tombstones included), or every live
    /// record, in one snapshot.
    static func mailboxChanges(
        _ db: Database,
        _ name: MailboxName,
        since modSeq: ModSeq?
    ) throws -> (Mailbox, [MessageRecord])? {
        guard let (mailbox, id) = try Self.fetchMailboxAndID(db, name) else { return nil }
        // SELECT of a large mailbox reads every record: columns by position, one cursor.
        let columns =
            "uid, modseq, last_updated, internaldate, savedate, size, guid, system_flags, keywords, expunged"
        let statement: Statement
        let arguments: StatementArguments
        if let modSeq {
            statement = try db.cachedStatement(
                sql: "SELECT \(columns) FROM records WHERE mailbox_id = ? AND modseq > ? ORDER BY uid"
            )
            arguments = [id, Int64(modSeq.rawValue)]
        } else {
            statement = try db.cachedStatement(
                sql: "SELECT \(columns) FROM records WHERE mailbox_id = ? AND expunged = 0 ORDER BY uid"
            )
            arguments = [id]
        }
        var records: [MessageRecord] = []
        records.reserveCapacity(modSeq == nil ? mailbox.messageCount : 16)
        let cursor = try Row.fetchCursor(statement, arguments: arguments)
        while let row = try cursor.next() {
            let guidHex: String = row[6]
            guard let guid = MessageGUID(hex: guidHex) else {
                throw MailStoreError(.corrupted, "invalid GUID in database: \(guidHex)")
            }
            let keywords: String = row[8]
            records.append(
                MessageRecord(
                    uid: UID(UInt32(row[0] as Int64)),
                    modSeq: ModSeq(UInt64(row[1] as Int64)),
                    lastUpdated: row[2],
                    internalDate: row[3],
                    saveDate: row[4],
                    size: row[5],
                    guid: guid,
                    flags: keywords.isEmpty
                        ? FlagSet(systemMask: row[7]) : FlagSet(systemMask: row[7], keywordString: keywords),
                    isExpunged: (row[9] as Int64) != 0
                )
            )
        }
        return (mailbox, records)
    }

    public func flagCounts(in name: MailboxName) async throws(MailStoreError) -> FlagCounts {
        let seen = Flag.seen.systemBit!
        let deleted = Flag.deleted.systemBit!
        return try readNow { db in
            let id = try Self.mailboxID(db, name)
            let row = try Row.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT COALESCE(SUM(system_flags & ? = 0), 0), COALESCE(SUM(system_flags & ? != 0), 0)
                        FROM records WHERE mailbox_id = ? AND expunged = 0
                        """
                ),
                arguments: [seen, deleted, id]
            )
            return FlagCounts(unseen: row?[0] ?? 0, deleted: row?[1] ?? 0)
        }
    }

    public func mailboxes(visibleTo identifiers: [String], owner: UserName) async throws(MailStoreError) -> [Mailbox] {
        try readNow { db in
            // Own mailboxes, plus every mailbox whose ACL names one of the identifiers (a
            // superset: the engine evaluates the rights). ACL strings are `id<TAB>rights<TAB>…`.
            let inbox = MailboxName.inbox(of: owner).internalName
            var clauses = ["name = ?", "(name > ? AND name < ?)"]
            var arguments: [any DatabaseValueConvertible] = [inbox, inbox + ".", inbox + "/"]
            for identifier in identifiers {
                clauses.append("acl LIKE ? ESCAPE '\\' OR acl LIKE ? ESCAPE '\\'")
                let escaped = identifier.replacing("\\", with: "\\\\").replacing("%", with: "\\%").replacing(
                    "_",
                    with: "\\_"
                )
                arguments.append(escaped + "\t%")
                arguments.append("%\t" + escaped + "\t%")
            }
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT \(Self.mailboxColumns) FROM mailboxes WHERE " + clauses.joined(separator: " OR ")
                    + " ORDER BY name",
                arguments: StatementArguments(arguments)
            )
            return try rows.map(Self.mailbox(from:))
        }
    }
}
