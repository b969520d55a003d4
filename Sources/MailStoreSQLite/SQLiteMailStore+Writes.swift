import GRDB
import MailCore
import MailStore

import struct Foundation.Data

/// Users, mailboxes, flags, expunge, quota and per-user state. Each public call is one
/// group-committed job; each invariant is kept inside that one transaction.
extension SQLiteMailStore {
    // MARK: Users

    public func createUser(
        _ name: UserName,
        passwordVerifier: String,
        quota: QuotaLimits,
        createInbox: Bool
    ) async throws(MailStoreError)
        -> UserAccount
    {
        let now = clock()
        let partition = configuration.defaultPartition
        return try await write { db, files in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [name.name]) == true {
                throw MailStoreError(.alreadyExists, "user \(name) already exists")
            }
            try db.execute(
                sql: "INSERT INTO users(name, verifier, created_at) VALUES (?, ?, ?)",
                arguments: [name.name, passwordVerifier, now]
            )
            let inbox = MailboxName.inbox(of: name)
            if createInbox, try Self.fetchMailbox(db, inbox) == nil {
                try Self.upsertQuotaRoot(db, inbox.internalName, quota)
                _ = try Self.insertMailbox(db, &files, inbox, acl: nil, partition: partition, now: now)
            }
            try Self.recordChange(
                db,
                &files,
                kind: .userCreate,
                user: name.name,
                mailbox: nil,
                uniqueID: nil,
                modSeq: nil,
                now: now
            )
            return UserAccount(name: name, passwordVerifier: passwordVerifier, createdAt: now)
        }
    }

    public func setPasswordVerifier(_ verifier: String, for name: UserName) async throws(MailStoreError) {
        try await write { db, _ in
            try db.execute(sql: "UPDATE users SET verifier = ? WHERE name = ?", arguments: [verifier, name.name])
            if db.changesCount == 0 { throw MailStoreError(.nonexistent, "user \(name) does not exist") }
        }
    }

    public func deleteUser(_ name: UserName) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM users WHERE name = ?", arguments: [name.name]) == true
            else {
                throw MailStoreError(.nonexistent, "user \(name) does not exist")
            }
            let inbox = MailboxName.inbox(of: name)
            let names = try String.fetchAll(
                db,
                sql: "SELECT name FROM mailboxes WHERE name = ? OR (name > ? AND name < ?) ORDER BY name DESC",
                arguments: [inbox.internalName, inbox.internalName + ".", inbox.internalName + "/"]
            )
            for raw in names {
                try Self.removeMailbox(db, &files, try MailboxName(internal: raw), now: now)
            }
            try db.execute(sql: "DELETE FROM quotaroots WHERE root = ?", arguments: [inbox.internalName])
            try db.execute(sql: "DELETE FROM subscriptions WHERE user = ?", arguments: [name.name])
            try db.execute(sql: "DELETE FROM seen WHERE user = ?", arguments: [name.name])
            try db.execute(sql: "DELETE FROM users WHERE name = ?", arguments: [name.name])
            try Self.recordChange(
                db,
                &files,
                kind: .userDelete,
                user: name.name,
                mailbox: nil,
                uniqueID: nil,
                modSeq: nil,
                now: now
            )
        }
    }

    // MARK: Mailboxes

    public func createMailbox(_ name: MailboxName, acl: ACL?) async throws(MailStoreError) -> Mailbox {
        let now = clock()
        let partition = configuration.defaultPartition
        return try await write { db, files in
            try Self.insertMailbox(db, &files, name, acl: acl, partition: partition, now: now)
        }
    }

    public func deleteMailbox(_ name: MailboxName) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in try Self.removeMailbox(db, &files, name, now: now) }
    }

    public func setACL(_ acl: ACL, on name: MailboxName) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            guard let (mailbox, id) = try Self.fetchMailboxAndID(db, name) else {
                throw MailStoreError(.nonexistent, "mailbox \(name) does not exist")
            }
            let modseq = mailbox.highestModSeq.next
            try db.execute(
                sql: "UPDATE mailboxes SET acl = ?, foldermodseq = ? WHERE id = ?",
                arguments: [acl.cyrusString, Int64(modseq.rawValue), id]
            )
            try Self.recordModification(
                db,
                &files,
                kind: .mailboxMeta,
                mailboxID: id,
                mailbox: mailbox,
                modseq: modseq,
                now: now
            )
        }
    }

    public func setPOP3LastLogin(_ time: UnixTime, in name: MailboxName) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            guard let (mailbox, id) = try Self.fetchMailboxAndID(db, name) else {
                throw MailStoreError(.nonexistent, "mailbox \(name) does not exist")
            }
            // Like Cyrus, whose index header holds it: a change to the mailbox (modseq bumped,
            // replicated as mailbox metadata).
            let modseq = mailbox.highestModSeq.next
            try db.execute(sql: "UPDATE mailboxes SET pop3_last_login = ? WHERE id = ?", arguments: [time, id])
            try Self.recordModification(
                db,
                &files,
                kind: .mailboxMeta,
                mailboxID: id,
                mailbox: mailbox,
                modseq: modseq,
                now: now
            )
        }
    }

    /// Inserts a mailbox row; the caller's transaction makes it durable.
    static func insertMailbox(
        _ db: Database,
        _ files: inout BatchFiles,
        _ name: MailboxName,
        acl: ACL?,
        partition: String,
        now: UnixTime
    ) throws -> Mailbox {
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM mailboxes WHERE name = ?", arguments: [name.internalName]) == true
        {
            throw MailStoreError(.alreadyExists, "mailbox \(name) already exists")
        }
        if let owner = name.owner, !name.isInbox,
            try Bool.fetchOne(
                db,
                sql: "SELECT 1 FROM mailboxes WHERE name = ?",
                arguments: [MailboxName.inbox(of: owner).internalName]
            ) != true
        {
            throw MailStoreError(.nonexistent, "the INBOX of \(owner) does not exist")
        }
        let previous = try Int64.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'uidvalidity'")
        let uidValidity = UIDValidity.generate(
            now: now,
            previous: previous.map { UIDValidity(UInt32(truncatingIfNeeded: $0)) }
        )
        try db.execute(
            sql:
                "INSERT INTO counters(name, value) VALUES ('uidvalidity', ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            arguments: [Int64(uidValidity.rawValue)]
        )
        let effectiveACL = acl ?? name.owner.map(ACL.owner) ?? ACL()
        let quotaRoot = try nearestQuotaRoot(db, name)
        let mailbox = Mailbox(
            uniqueID: makeUniqueID(),
            name: name,
            partition: partition,
            acl: effectiveACL,
            uidValidity: uidValidity,
            quotaRoot: quotaRoot
        )
        try db.execute(
            sql: """
                INSERT INTO mailboxes(uniqueid, name, owner, partition, acl, uidvalidity, highestmodseq, createdmodseq,
                                      foldermodseq, quotaroot)
                VALUES (?, ?, ?, ?, ?, ?, 1, 1, 1, ?)
                """,
            arguments: [
                mailbox.uniqueID, name.internalName, name.owner?.name, partition, effectiveACL.cyrusString,
                Int64(uidValidity.rawValue), quotaRoot,
            ]
        )
        try recordChange(
            db,
            &files,
            kind: .mailboxCreate,
            user: name.owner?.name,
            mailbox: name.internalName,
            uniqueID: mailbox.uniqueID,
            modSeq: ModSeq(1),
            now: now
        )
        return mailbox
    }

    /// Deletes one mailbox, releasing its messages' bytes and quota usage.
    static func removeMailbox(_ db: Database, _ files: inout BatchFiles, _ name: MailboxName, now: UnixTime) throws {
        guard let (mailbox, id) = try fetchMailboxAndID(db, name) else {
            throw MailStoreError(.nonexistent, "mailbox \(name) does not exist")
        }
        let live = try Row.fetchAll(
            db,
            sql: "SELECT guid, size FROM records WHERE mailbox_id = ? AND expunged = 0",
            arguments: [id]
        )
        for row in live { try releaseBlob(db, row["guid"]) }
        if let root = mailbox.quotaRoot {
            try db.execute(
                sql:
                    "UPDATE quotaroots SET storage_used = storage_used - ?, messages_used = messages_used - ? WHERE root = ?",
                arguments: [mailbox.totalSize, mailbox.messageCount, root]
            )
        }
        try db.execute(sql: "DELETE FROM records WHERE mailbox_id = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM annotations WHERE mailbox_id = ?", arguments: [id])
        try db.execute(sql: "DELETE FROM seen WHERE uniqueid = ?", arguments: [mailbox.uniqueID])
        try db.execute(sql: "DELETE FROM mailboxes WHERE id = ?", arguments: [id])
        try db.execute(
            sql: "INSERT OR REPLACE INTO mailbox_tombstones(uniqueid, name, deleted_at) VALUES (?, ?, ?)",
            arguments: [mailbox.uniqueID, name.internalName, now]
        )
        try recordChange(
            db,
            &files,
            kind: .mailboxDelete,
            user: name.owner?.name,
            mailbox: name.internalName,
            uniqueID: mailbox.uniqueID,
            modSeq: mailbox.highestModSeq.next,
            now: now
        )
    }

    /// Raises a mailbox's highestmodseq to `modseq` and records the change, the common tail of
    /// every write that changes records or mailbox metadata.
    static func recordModification(
        _ db: Database,
        _ files: inout BatchFiles,
        kind: ChangeEvent.Kind,
        mailboxID: Int64,
        mailbox: Mailbox,
        modseq: ModSeq,
        now: UnixTime,
        previousName: String? = nil
    ) throws {
        try db.cachedStatement(sql: "UPDATE mailboxes SET highestmodseq = ? WHERE id = ?")
            .execute(arguments: [Int64(modseq.rawValue), mailboxID])
        try recordChange(
            db,
            &files,
            kind: kind,
            user: mailbox.name.owner?.name,
            mailbox: mailbox.name.internalName,
            uniqueID: mailbox.uniqueID,
            modSeq: modseq,
            now: now,
            previousName: previousName
        )
    }

    /// Drops one reference to a blob; files with no references are collected later.
    static func releaseBlob(_ db: Database, _ guidHex: String) throws {
        try db.cachedStatement(sql: "UPDATE blobs SET refcount = refcount - 1 WHERE guid = ? AND refcount > 0")
            .execute(arguments: [guidHex])
    }

    /// The quota root governing `name`: the longest existing root that is `name` or an ancestor.
    static func nearestQuotaRoot(_ db: Database, _ name: MailboxName) throws -> String? {
        var candidate: MailboxName? = name
        while let current = candidate {
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM quotaroots WHERE root = ?", arguments: [current.internalName])
                == true
            {
                return current.internalName
            }
            candidate = current.parent
        }
        return nil
    }

    static func upsertQuotaRoot(_ db: Database, _ root: String, _ limits: QuotaLimits) throws {
        try db.execute(
            sql: """
                INSERT INTO quotaroots(root, storage_limit, message_limit) VALUES (?, ?, ?)
                ON CONFLICT(root) DO UPDATE SET storage_limit = excluded.storage_limit, message_limit = excluded.message_limit
                """,
            arguments: [root, limits.storageKiB, limits.messages]
        )
    }

    /// A new mailbox uniqueid: 128 random bits in UUID form, as Cyrus 3 generates them.
    static func makeUniqueID() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = (0..<2).map { _ in
            let value = generator.next() as UInt64
            let text = String(value, radix: 16)
            return String(repeating: "0", count: 16 - text.count) + text
        }.joined()
        let chars = Array(hex)
        return [chars[0..<8], chars[8..<12], chars[12..<16], chars[16..<20], chars[20..<32]].map { String($0) }
            .joined(separator: "-")
    }

    // MARK: Flags and expunge

    public func storeFlags(
        _ change: FlagChange,
        uids: [UID],
        in name: MailboxName,
        unchangedSince: ModSeq?
    ) async throws(MailStoreError) -> FlagStoreResult {
        let now = clock()
        return try await write { db, files in
            guard let (mailbox, id) = try Self.fetchMailboxAndID(db, name) else {
                throw MailStoreError(.nonexistent, "mailbox \(name) does not exist")
            }
            let modseq = mailbox.highestModSeq.next
            var result = FlagStoreResult()
            let select = try db.cachedStatement(
                sql: "SELECT * FROM records WHERE mailbox_id = ? AND uid = ? AND expunged = 0"
            )
            let update = try db.cachedStatement(
                sql:
                    "UPDATE records SET system_flags = ?, keywords = ?, modseq = ?, last_updated = ? WHERE mailbox_id = ? AND uid = ?"
            )
            for uid in uids {
                guard
                    var record = try Row.fetchOne(select, arguments: [id, Int64(uid.rawValue)]).map(Self.record(from:))
                else { continue }
                // RFC 7162 §3.1.3: a record changed after UNCHANGEDSINCE is left alone and reported.
                if let unchangedSince, record.modSeq > unchangedSince {
                    result.modified.append(uid)
                    continue
                }
                let flags = change.applied(to: record.flags)
                guard flags != record.flags else {
                    result.unchanged.append(record)
                    continue
                }
                record.flags = flags
                record.modSeq = modseq
                record.lastUpdated = now
                try update.execute(arguments: [
                    flags.systemMask, flags.keywordString, Int64(modseq.rawValue), now, id, Int64(uid.rawValue),
                ])
                result.changed.append(record)
            }
            if !result.changed.isEmpty {
                try Self.recordModification(
                    db,
                    &files,
                    kind: .flags,
                    mailboxID: id,
                    mailbox: mailbox,
                    modseq: modseq,
                    now: now
                )
            }
            return result
        }
    }

    public func expunge(uids: [UID], in name: MailboxName) async throws(MailStoreError) -> [UID] {
        let now = clock()
        return try await write { db, files in
            guard let (mailbox, id) = try Self.fetchMailboxAndID(db, name) else {
                throw MailStoreError(.nonexistent, "mailbox \(name) does not exist")
            }
            return try Self.expungeRecords(db, &files, uids, mailboxID: id, mailbox: mailbox, now: now)
        }
    }

    /// Marks live records expunged (tombstones), releasing their bytes and quota usage.
    @discardableResult
    static func expungeRecords(
        _ db: Database,
        _ files: inout BatchFiles,
        _ uids: [UID],
        mailboxID id: Int64,
        mailbox: Mailbox,
        now: UnixTime
    ) throws -> [UID] {
        let modseq = mailbox.highestModSeq.next
        var expunged: [UID] = []
        var bytes: Int64 = 0
        let select = try db.cachedStatement(
            sql: "SELECT guid, size FROM records WHERE mailbox_id = ? AND uid = ? AND expunged = 0"
        )
        let update = try db.cachedStatement(
            sql: "UPDATE records SET expunged = 1, modseq = ?, last_updated = ? WHERE mailbox_id = ? AND uid = ?"
        )
        for uid in uids {
            guard let row = try Row.fetchOne(select, arguments: [id, Int64(uid.rawValue)]) else { continue }
            try update.execute(arguments: [Int64(modseq.rawValue), now, id, Int64(uid.rawValue)])
            try releaseBlob(db, row["guid"])
            bytes += row["size"] as Int64
            expunged.append(uid)
        }
        guard !expunged.isEmpty else { return [] }
        try db.execute(
            sql: "UPDATE mailboxes SET message_count = message_count - ?, total_size = total_size - ? WHERE id = ?",
            arguments: [expunged.count, bytes, id]
        )
        if let root = mailbox.quotaRoot {
            try db.execute(
                sql:
                    "UPDATE quotaroots SET storage_used = storage_used - ?, messages_used = messages_used - ? WHERE root = ?",
                arguments: [bytes, expunged.count, root]
            )
        }
        try recordModification(db, &files, kind: .expunge, mailboxID: id, mailbox: mailbox, modseq: modseq, now: now)
        return expunged
    }

    // MARK: Quota

    public func setQuota(_ root: String, limits: QuotaLimits) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            guard let rootName = try? MailboxName(internal: root), try Self.fetchMailbox(db, rootName) != nil else {
                throw MailStoreError(.nonexistent, "quota root \(root) is not an existing mailbox")
            }
            try Self.upsertQuotaRoot(db, root, limits)
            // Mailboxes at or below the root whose current root is shallower now count here.
            let below = try Row.fetchAll(
                db,
                sql: "SELECT id, quotaroot FROM mailboxes WHERE name = ? OR (name > ? AND name < ?)",
                arguments: [root, root + ".", root + "/"]
            )
            for row in below {
                let current: String? = row["quotaroot"]
                if current == nil || current!.count < root.count {
                    try db.execute(
                        sql: "UPDATE mailboxes SET quotaroot = ? WHERE id = ?",
                        arguments: [root, row["id"] as Int64]
                    )
                }
            }
            try Self.recomputeQuotaUsage(db, root)
            try Self.recordChange(
                db,
                &files,
                kind: .quota,
                user: rootName.owner?.name,
                mailbox: root,
                uniqueID: nil,
                modSeq: nil,
                now: now
            )
        }
    }

    /// Sets a root's usage to the sum over the mailboxes it governs.
    static func recomputeQuotaUsage(_ db: Database, _ root: String) throws {
        try db.execute(
            sql: """
                UPDATE quotaroots SET
                  storage_used = (SELECT COALESCE(SUM(total_size), 0) FROM mailboxes WHERE quotaroot = ?),
                  messages_used = (SELECT COALESCE(SUM(message_count), 0) FROM mailboxes WHERE quotaroot = ?)
                WHERE root = ?
                """,
            arguments: [root, root, root]
        )
    }

    // MARK: Per-user state

    public func subscribe(_ user: UserName, to name: MailboxName) async throws(MailStoreError) {
        try await changeSubscription(
            "INSERT OR IGNORE INTO subscriptions(user, mailbox) VALUES (?, ?)",
            user: user,
            mailbox: name
        )
    }

    public func unsubscribe(_ user: UserName, from name: MailboxName) async throws(MailStoreError) {
        try await changeSubscription(
            "DELETE FROM subscriptions WHERE user = ? AND mailbox = ?",
            user: user,
            mailbox: name
        )
    }

    /// Runs one subscription statement (arguments: user, mailbox) and records the change.
    private func changeSubscription(_ sql: String, user: UserName, mailbox: MailboxName) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            try db.execute(sql: sql, arguments: [user.name, mailbox.internalName])
            try Self.recordChange(
                db,
                &files,
                kind: .subscription,
                user: user.name,
                mailbox: mailbox.internalName,
                uniqueID: nil,
                modSeq: nil,
                now: now
            )
        }
    }

    public func setSeenState(
        _ state: SeenState,
        of user: UserName,
        mailboxUniqueID: String
    ) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            try db.execute(
                sql: """
                    INSERT INTO seen(user, uniqueid, lastread, lastuid, lastchange, seenuids) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(user, uniqueid) DO UPDATE SET lastread = excluded.lastread, lastuid = excluded.lastuid,
                      lastchange = excluded.lastchange, seenuids = excluded.seenuids
                    """,
                arguments: [
                    user.name, mailboxUniqueID, state.lastRead, Int64(state.lastUID), state.lastChange, state.seenUIDs,
                ]
            )
            try Self.recordChange(
                db,
                &files,
                kind: .seen,
                user: user.name,
                mailbox: nil,
                uniqueID: mailboxUniqueID,
                modSeq: nil,
                now: now
            )
        }
    }

    public func setAnnotation(_ annotation: Annotation, in name: MailboxName) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            guard let (mailbox, id) = try Self.fetchMailboxAndID(db, name) else {
                throw MailStoreError(.nonexistent, "mailbox \(name) does not exist")
            }
            let modseq = mailbox.highestModSeq.next
            let uid = Int64(annotation.uid?.rawValue ?? 0)
            if let value = annotation.value {
                try db.execute(
                    sql: """
                        INSERT INTO annotations(mailbox_id, uid, entry, userid, value, modseq) VALUES (?, ?, ?, ?, ?, ?)
                        ON CONFLICT(mailbox_id, uid, entry, userid) DO UPDATE SET value = excluded.value, modseq = excluded.modseq
                        """,
                    arguments: [id, uid, annotation.entry, annotation.userID, Data(value), Int64(modseq.rawValue)]
                )
            } else {
                try db.execute(
                    sql: "DELETE FROM annotations WHERE mailbox_id = ? AND uid = ? AND entry = ? AND userid = ?",
                    arguments: [id, uid, annotation.entry, annotation.userID]
                )
            }
            try Self.recordModification(
                db,
                &files,
                kind: .annotation,
                mailboxID: id,
                mailbox: mailbox,
                modseq: modseq,
                now: now
            )
        }
    }

    public func setServerAnnotation(_ annotation: Annotation) async throws(MailStoreError) {
        let now = clock()
        try await write { db, files in
            if let value = annotation.value {
                try db.execute(
                    sql: """
                        INSERT INTO server_annotations(entry, userid, value) VALUES (?, ?, ?)
                        ON CONFLICT(entry, userid) DO UPDATE SET value = excluded.value
                        """,
                    arguments: [annotation.entry, annotation.userID, Data(value)]
                )
            } else {
                try db.execute(
                    sql: "DELETE FROM server_annotations WHERE entry = ? AND userid = ?",
                    arguments: [annotation.entry, annotation.userID]
                )
                guard db.changesCount > 0 else { return }
            }
            // Mailbox "" is the server, as in Cyrus's sync log (`ANNOTATION ""`).
            try Self.recordChange(
                db,
                &files,
                kind: .annotation,
                user: annotation.userID.isEmpty ? nil : annotation.userID,
                mailbox: "",
                uniqueID: nil,
                modSeq: nil,
                now: now
            )
        }
    }

    // MARK: Maintenance

    /// Deletes unreferenced message files and prunes the change feed. Only the serving process
    /// (or reconstruct, holding the serve lock) runs this. Returns the number of files removed.
    @discardableResult
    public func collectGarbage(limit: Int = 10_000) async throws(MailStoreError) -> Int {
        let retention = configuration.changeRetention
        // A barrier: it deletes files, so no file stage may run beside it.
        return try await write(barrier: true) { db, files in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT guid, partition FROM blobs WHERE refcount = 0 LIMIT ?",
                arguments: [limit]
            )
            var removed = 0
            for row in rows {
                let guid: String = row["guid"]
                try db.execute(sql: "DELETE FROM blobs WHERE guid = ? AND refcount = 0", arguments: [guid])
                try db.execute(sql: "DELETE FROM headers WHERE guid = ?", arguments: [guid])
                files.blobsToRemove.append((guid, row["partition"]))
                removed += 1
            }
            try Self.pruneChanges(db, retention: retention)
            return removed
        }
    }
}
