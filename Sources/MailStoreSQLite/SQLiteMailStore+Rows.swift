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

    static func mailbox(from row: Row) throws -> Mailbox {
        let rawName: String = row["name"]
        guard let name = try? MailboxName(internal: rawName) else {
            throw MailStoreError(.corrupted, "invalid mailbox name in database: \(rawName)")
        }
        return Mailbox(
            uniqueID: row["uniqueid"],
            name: name,
            partition: row["partition"],
            acl: ACL(cyrusString: row["acl"]) ?? ACL(),
            uidValidity: UIDValidity(UInt32(row["uidvalidity"] as Int64)),
            lastUID: UInt32(row["last_uid"] as Int64),
            highestModSeq: ModSeq(UInt64(row["highestmodseq"] as Int64)),
            createdModSeq: ModSeq(UInt64(row["createdmodseq"] as Int64)),
            folderModSeq: ModSeq(UInt64(row["foldermodseq"] as Int64)),
            recentUID: UInt32(row["recentuid"] as Int64),
            recentTime: row["recenttime"],
            lastAppendDate: row["last_appenddate"],
            pop3LastLogin: row["pop3_last_login"],
            pop3ShowAfter: row["pop3_show_after"],
            options: row["options"],
            mailboxType: row["mbtype"],
            quotaRoot: row["quotaroot"],
            messageCount: row["message_count"],
            totalSize: row["total_size"]
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
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM mailboxes WHERE name = ?"),
            arguments: [name.internalName]
        ).map(
            mailbox(from:)
        )
    }

    static func mailboxID(_ db: Database, _ name: MailboxName) throws -> Int64 {
        guard
            let id = try Int64.fetchOne(
                db,
                sql: "SELECT id FROM mailboxes WHERE name = ?",
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
