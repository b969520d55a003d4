import MailCore
import MailStore

/// The POP3 view of a user's INBOX: a snapshot taken at login (RFC 1939 §8: message numbers
/// and sizes do not change during a session), with the session's deletion marks.
///
/// Messages delivered or expunged by others after login do not change the numbering; a
/// message expunged meanwhile is reported when retrieved, and its deletion at QUIT is a
/// no-op. UIDL values are Cyrus's `UIDVALIDITY.UID`, stable for the message's life and
/// across replication (a replica keeps both numbers).
public struct Maildrop: Sendable {
    public struct Message: Hashable, Sendable {
        public var uid: UID
        public var size: Int64
        public var guid: MessageGUID
        public var deleted = false
        public var retrieved = false
    }

    public let mailboxName: MailboxName
    public let uidValidity: UIDValidity
    /// The mailbox's `pop3_last_login` when the snapshot was taken.
    public let lastLogin: UnixTime
    public private(set) var messages: [Message]

    /// Builds the snapshot from the INBOX's live records: with `hideDeleted` (popuseimapflags)
    /// messages flagged \Deleted are left out; messages with an internal date at or before
    /// `showAfter` (the mailbox's `pop3_show_after`) are too, as in Cyrus.
    public init(
        mailbox: Mailbox,
        records: [MessageRecord],
        hideDeleted: Bool,
        limit: Int
    ) {
        mailboxName = mailbox.name
        uidValidity = mailbox.uidValidity
        lastLogin = mailbox.pop3LastLogin
        var messages: [Message] = []
        messages.reserveCapacity(min(records.count, limit))
        for record in records where !record.isExpunged {
            if hideDeleted && record.flags.contains(.deleted) { continue }
            if mailbox.pop3ShowAfter > 0 && record.internalDate <= mailbox.pop3ShowAfter { continue }
            messages.append(Message(uid: record.uid, size: record.size, guid: record.guid))
            if messages.count >= limit { break }
        }
        self.messages = messages
    }

    /// The message numbered `number` unless it is out of range or marked deleted.
    public func message(_ number: Int) -> Message? {
        guard number >= 1, number <= messages.count, !messages[number - 1].deleted else { return nil }
        return messages[number - 1]
    }

    /// STAT: count and total size of the messages not marked deleted.
    public var statistics: (count: Int, size: Int64) {
        var count = 0
        var size: Int64 = 0
        for message in messages where !message.deleted {
            count += 1
            size += message.size
        }
        return (count, size)
    }

    /// The UIDL value of a message, `UIDVALIDITY.UID` (Cyrus's `uidl_format: cyrus`).
    public func uniqueID(of message: Message) -> String { "\(uidValidity.rawValue).\(message.uid.rawValue)" }

    /// DELE: false if there is no such (undeleted) message.
    public mutating func markDeleted(_ number: Int) -> Bool {
        guard message(number) != nil else { return false }
        messages[number - 1].deleted = true
        return true
    }

    public mutating func markRetrieved(_ number: Int) {
        guard number >= 1, number <= messages.count else { return }
        messages[number - 1].retrieved = true
    }

    /// RSET: unmarks every deleted and retrieved message (as Cyrus does).
    public mutating func reset() {
        for index in messages.indices {
            messages[index].deleted = false
            messages[index].retrieved = false
        }
    }

    /// UIDs to expunge in the UPDATE state.
    public var deletedUIDs: [UID] { messages.filter(\.deleted).map(\.uid) }
    /// UIDs retrieved and kept (for \Seen under popuseimapflags).
    public var retrievedUIDs: [UID] { messages.filter { $0.retrieved && !$0.deleted }.map(\.uid) }
}
