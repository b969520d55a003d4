import MailCore
import MailStore
import POP3Server
import Testing

@Suite struct MaildropTests {
    static func record(
        _ uid: UInt32,
        size: Int64 = 10,
        flags: FlagSet = FlagSet(),
        date: UnixTime = 100,
        expunged: Bool = false
    )
        -> MessageRecord
    {
        MessageRecord(
            uid: UID(uid),
            modSeq: ModSeq(1),
            lastUpdated: 0,
            internalDate: date,
            saveDate: 0,
            size: size,
            guid: MessageGUID(bytes: Array(repeating: UInt8(uid), count: 20))!,
            flags: flags,
            isExpunged: expunged
        )
    }

    static func mailbox(showAfter: UnixTime = 0) throws -> Mailbox {
        Mailbox(
            uniqueID: "u",
            name: .inbox(of: try UserName("alice")),
            partition: "default",
            acl: ACL(),
            uidValidity: UIDValidity(1234),
            pop3ShowAfter: showAfter
        )
    }

    @Test func snapshotSkipsExpungedAndOptionallyDeleted() throws {
        let records = [
            Self.record(1), Self.record(2, expunged: true), Self.record(3, flags: FlagSet([.deleted])), Self.record(4),
        ]
        let all = Maildrop(mailbox: try Self.mailbox(), records: records, hideDeleted: false, limit: 100)
        #expect(all.messages.map(\.uid.rawValue) == [1, 3, 4])
        let visible = Maildrop(mailbox: try Self.mailbox(), records: records, hideDeleted: true, limit: 100)
        #expect(visible.messages.map(\.uid.rawValue) == [1, 4])
        #expect(visible.uniqueID(of: visible.messages[1]) == "1234.4")
    }

    @Test func showAfterHidesOlderMessages() throws {
        let records = [Self.record(1, date: 50), Self.record(2, date: 100), Self.record(3, date: 150)]
        let drop = Maildrop(mailbox: try Self.mailbox(showAfter: 100), records: records, hideDeleted: false, limit: 100)
        #expect(drop.messages.map(\.uid.rawValue) == [3])
    }

    @Test func limitKeepsTheOldest() throws {
        let records = (1...10).map { Self.record(UInt32($0)) }
        let drop = Maildrop(mailbox: try Self.mailbox(), records: records, hideDeleted: false, limit: 4)
        #expect(drop.messages.map(\.uid.rawValue) == [1, 2, 3, 4])
    }

    @Test func marksAndReset() throws {
        var drop = Maildrop(
            mailbox: try Self.mailbox(),
            records: [Self.record(1, size: 5), Self.record(2, size: 7)],
            hideDeleted: false,
            limit: 100
        )
        #expect(drop.statistics.count == 2 && drop.statistics.size == 12)
        let results = [drop.markDeleted(1), drop.markDeleted(1), drop.markDeleted(3)]
        #expect(results == [true, false, false])
        #expect(drop.message(1) == nil)
        #expect(drop.statistics.count == 1 && drop.statistics.size == 7)
        drop.markRetrieved(2)
        #expect(drop.deletedUIDs == [UID(1)])
        #expect(drop.retrievedUIDs == [UID(2)])
        drop.reset()
        #expect(drop.deletedUIDs.isEmpty && drop.retrievedUIDs.isEmpty)
        #expect(drop.statistics.count == 2 && drop.statistics.size == 12)
    }
}
