import MailCore
import MailStore
import Testing

@testable import IMAPServer

/// The sequence-number map under changes from elsewhere.
@Suite struct SelectedMailboxTests {
    func record(_ uid: UInt32, modseq: UInt64, flags: [Flag] = [], expunged: Bool = false) -> MessageRecord {
        MessageRecord(
            uid: UID(uid),
            modSeq: ModSeq(modseq),
            lastUpdated: 0,
            internalDate: 0,
            saveDate: 0,
            size: 10,
            guid: MessageGUID(hex: String(repeating: "0", count: 39) + String(uid % 10))!,
            flags: FlagSet(flags),
            isExpunged: expunged
        )
    }

    func mailbox(lastUID: UInt32, modseq: UInt64) -> Mailbox {
        Mailbox(
            uniqueID: "u",
            name: try! MailboxName(internal: "user.alice"),
            partition: "default",
            acl: ACL(),
            uidValidity: UIDValidity(7),
            lastUID: lastUID,
            highestModSeq: ModSeq(modseq)
        )
    }

    @Test func expungesAreAnnouncedHighestFirstAndAppendsAfter() {
        var view = SelectedMailbox(
            mailbox: mailbox(lastUID: 5, modseq: 5),
            records: (1...5).map { record($0, modseq: UInt64($0)) },
            readOnly: false
        )
        let update = view.apply(
            [record(2, modseq: 6, expunged: true), record(4, modseq: 6, expunged: true), record(6, modseq: 6)],
            mailbox: mailbox(lastUID: 6, modseq: 6),
            allowExpunge: true
        )
        #expect(update.expunged == [4, 2])
        #expect(update.exists == 4)
        #expect(view.entries.map(\.uid.rawValue) == [1, 3, 5, 6])
        #expect(view.sequence(of: UID(5)) == 3)
    }

    @Test func heldBackExpungesKeepNumbersUntilAllowed() {
        var view = SelectedMailbox(
            mailbox: mailbox(lastUID: 3, modseq: 3),
            records: (1...3).map { record($0, modseq: 1) },
            readOnly: false
        )
        let held = view.apply(
            [record(1, modseq: 4, expunged: true)],
            mailbox: mailbox(lastUID: 3, modseq: 4),
            allowExpunge: false
        )
        #expect(held.expunged.isEmpty)
        #expect(view.count == 3)
        let later = view.apply([], mailbox: mailbox(lastUID: 3, modseq: 4), allowExpunge: true)
        #expect(later.expunged == [1])
        #expect(view.count == 2)
    }

    @Test func flagChangesFromElsewhereAreReported() {
        var view = SelectedMailbox(
            mailbox: mailbox(lastUID: 2, modseq: 2),
            records: [record(1, modseq: 1), record(2, modseq: 2)],
            readOnly: false
        )
        let update = view.apply(
            [record(2, modseq: 3, flags: [.seen])],
            mailbox: mailbox(lastUID: 2, modseq: 3),
            allowExpunge: true
        )
        #expect(update.flagChanges == [2])
        #expect(view.entry(at: 2).flags.contains(.seen))
    }

    @Test func uidRangesResolveToSequenceNumbers() {
        let view = SelectedMailbox(
            mailbox: mailbox(lastUID: 9, modseq: 1),
            records: [3, 5, 9].map { record($0, modseq: 1) },
            readOnly: false
        )
        #expect(view.sequences(forUIDs: UIDSet(ranges: [4...9])) == [2, 3])
        #expect(view.sequences(forUIDs: UIDSet(ranges: [10...20])).isEmpty)
    }
}
