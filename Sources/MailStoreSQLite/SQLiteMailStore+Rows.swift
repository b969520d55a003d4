import GRDB
import MailCore
import MailStore

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
