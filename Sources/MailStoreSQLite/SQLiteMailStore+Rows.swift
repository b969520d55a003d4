import GRDB
import MailCore
import MailStore

import struct Foundation.Data

/// Row ↔ value mapping. Rows come from our own schema, so a value that fails to decode means
/// the database was altered outside Corvid: it surfaces as `.corrupted`, never as a crash.
extension SQLiteMailStore {
    static func user(from row: Row) throws -> UserAccount {
        guard let name = try? UserName(row["name"] as String) else {
            throw MailStoreError(.corrupted, "invalid user name in database: \(row["name"] as String? ?? "")")
        }
        return UserAccount(name: name, passwordVerifier: row["verifier"], createdAt: row["created_at"])
    }

    /// The columns ``mailbox(from:)`` decodes, by position: every query for whole mailbox rows
    /// selects exactly these (`id` last, at ``mailboxIDColumn``).
    static let mailboxColumns = """
        name, uniqueid, partition, acl, uidvalidity, last_uid, highestmodseq, createdmodseq, \
        foldermodseq, recentuid, recenttime, last_appenddate, pop3_last_login, pop3_show_after, \
        options, mbtype, quotaroot, message_count, total_size, id
        """
    /// Where `id` is in ``mailboxColumns``.
    static let mailboxIDColumn = 19

    /// A mailbox from a row of ``mailboxColumns``, read by position: a name lookup lowercases
    /// the name on every access, and mailbox rows are read by every command.
    static func mailbox(from row: Row) throws -> Mailbox {
        let rawName: String = row[0]
        guard let name = try? MailboxName(internal: rawName) else {
            throw MailStoreError(.corrupted, "invalid mailbox name in database: \(rawName)")
        }
        return Mailbox(
            uniqueID: row[1],
            name: name,
            partition: row[2],
            acl: ACL(cyrusString: row[3]) ?? ACL(),
            uidValidity: UIDValidity(UInt32(row[4] as Int64)),
            lastUID: UInt32(row[5] as Int64),
            highestModSeq: ModSeq(UInt64(row[6] as Int64)),
            createdModSeq: ModSeq(UInt64(row[7] as Int64)),
            folderModSeq: ModSeq(UInt64(row[8] as Int64)),
            recentUID: UInt32(row[9] as Int64),
            recentTime: row[10],
            lastAppendDate: row[11],
            pop3LastLogin: row[12],
            pop3ShowAfter: row[13],
            options: row[14],
            mailboxType: row[15],
            quotaRoot: row[16],
            messageCount: row[17],
            totalSize: row[18]
        )
    }

    static func record(from row: Row) throws -> MessageRecord {
        let guidHex: String = row["guid"]
        guard let guid = MessageGUID(hex: guidHex) else {
            throw MailStoreError(.corrupted, "invalid GUID in database: \(guidHex)")
        }
        return MessageRecord(
            uid: UID(UInt32(row["uid"] as Int64)),
            modSeq: ModSeq(UInt64(row["modseq"] as Int64)),
            lastUpdated: row["last_updated"],
            internalDate: row["internaldate"],
            saveDate: row["savedate"],
            size: row["size"],
            guid: guid,
            flags: FlagSet(systemMask: row["system_flags"], keywordString: row["keywords"]),
            isExpunged: (row["expunged"] as Int64) != 0
        )
    }

    /// A record with every field replication carries; its annotations are left empty.
    static func replicaRecord(from row: Row) throws -> ReplicaRecord {
        let record = try record(from: row)
        return ReplicaRecord(
            uid: record.uid,
            modSeq: record.modSeq,
            lastUpdated: record.lastUpdated,
            internalDate: record.internalDate,
            saveDate: record.saveDate,
            createdModSeq: ModSeq(UInt64(row["createdmodseq"] as Int64)),
            size: record.size,
            guid: record.guid,
            flags: record.flags,
            isExpunged: record.isExpunged
        )
    }

    /// An `annotations` row; uid 0 is a mailbox-level entry (uid nil).
    static func annotation(from row: Row) -> Annotation {
        let uid: Int64 = row["uid"]
        return Annotation(
            uid: uid == 0 ? nil : UID(UInt32(truncatingIfNeeded: uid)),
            entry: row["entry"],
            userID: row["userid"],
            value: Array(row["value"] as Data? ?? Data()),
            modSeq: ModSeq(UInt64(row["modseq"] as Int64))
        )
    }

    static func fetchMailbox(_ db: Database, _ name: MailboxName) throws -> Mailbox? {
        try fetchMailboxAndID(db, name)?.mailbox
    }

    /// The mailbox and its row id, in one query.
    static func fetchMailboxAndID(_ db: Database, _ name: MailboxName) throws -> (mailbox: Mailbox, id: Int64)? {
        let statement = try db.cachedStatement(sql: "SELECT \(mailboxColumns) FROM mailboxes WHERE name = ?")
        guard let row = try Row.fetchOne(statement, arguments: [name.internalName]) else { return nil }
        return (try mailbox(from: row), row[mailboxIDColumn])
    }

    static func mailboxID(_ db: Database, _ name: MailboxName) throws -> Int64 {
        guard
            let id = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM mailboxes WHERE name = ?"),
                arguments: [name.internalName]
            )
        else {
            throw MailStoreError(.nonexistent, "mailbox \(name) does not exist")
        }
        return id
    }

    static func fetchQuotaRoot(_ db: Database, _ root: String) throws -> QuotaRoot? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM quotaroots WHERE root = ?"), arguments: [root])
            .map(quotaRoot(from:))
    }

    static func quotaRoot(from row: Row) -> QuotaRoot {
        QuotaRoot(
            root: row["root"],
            storageLimitKiB: row["storage_limit"],
            messageLimit: row["message_limit"],
            storageUsedBytes: row["storage_used"],
            messagesUsed: row["messages_used"]
        )
    }
}
