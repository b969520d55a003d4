import MailCore
import MailStore
import Testing

@testable import Replication

/// ``FullMailboxMerge``'s decision table (sync-protocol §5.4), case by case, without a store.
@Suite struct FullMailboxMergeTests {
    static let name = MailboxName.inbox(of: try! UserName("alice"))

    static func guid(_ n: UInt8) -> MessageGUID { MessageGUID(bytes: [UInt8](repeating: n, count: 20))! }

    static func record(
        _ uid: UInt32,
        _ guidByte: UInt8,
        modSeq: UInt64,
        flags: FlagSet = FlagSet(),
        expunged: Bool = false,
        updated: UnixTime = 1_700_000_000
    ) -> ReplicaRecord {
        ReplicaRecord(
            uid: UID(uid),
            modSeq: ModSeq(modSeq),
            lastUpdated: updated,
            internalDate: 1_700_000_000,
            size: 100,
            guid: guid(guidByte),
            flags: flags,
            isExpunged: expunged
        )
    }

    static func master(
        _ records: [ReplicaRecord],
        lastUID: UInt32,
        modSeq: UInt64,
        uidValidity: UInt32 = 7
    )
        -> ReplicaMailboxState
    {
        let mailbox = Mailbox(
            uniqueID: "u1",
            name: name,
            partition: "default",
            acl: ACL(),
            uidValidity: UIDValidity(uidValidity),
            lastUID: lastUID,
            highestModSeq: ModSeq(modSeq)
        )
        return ReplicaMailboxState(mailbox: mailbox, annotations: [], records: records)
    }

    static func replica(
        _ records: [ReplicaRecord],
        lastUID: UInt32,
        modSeq: UInt64,
        uidValidity: UInt32 = 7,
        annotations: Set<ReplicaMailboxSummary.AnnotationKey> = []
    ) -> ReplicaMailboxSummary {
        ReplicaMailboxSummary(
            uniqueID: "u1",
            name: name.internalName,
            type: "",
            syncCRC: 0,
            syncCRCAnnotations: 0,
            lastUID: lastUID,
            highestModSeq: modSeq,
            recentUID: 0,
            recentTime: 0,
            pop3LastLogin: 0,
            pop3ShowAfter: 0,
            uidValidity: uidValidity,
            partition: "default",
            acl: "",
            options: "",
            folderModSeq: nil,
            annotations: annotations,
            records: records
        )
    }

    static func kinds(_ merge: FullMailboxMerge) -> [FullMailboxMerge.Decision.Kind] { merge.decisions.map(\.kind) }

    @Test func identicalSidesChangeNothing() {
        let records = [Self.record(1, 1, modSeq: 3), Self.record(2, 2, modSeq: 4, expunged: true)]
        let merge = FullMailboxMerge(
            master: Self.master(records, lastUID: 2, modSeq: 4),
            replica: Self.replica(records, lastUID: 2, modSeq: 4),
            now: 1_800_000_000
        )
        #expect(!merge.changesMaster && merge.fetches.isEmpty && merge.replicaExpunges.isEmpty)
        #expect(merge.decisions.isEmpty)
    }

    @Test func splitBrainRenumbersBothLowerGUIDFirst() {
        let merge = FullMailboxMerge(
            master: Self.master([Self.record(1, 1, modSeq: 3), Self.record(2, 9, modSeq: 5)], lastUID: 2, modSeq: 5),
            replica: Self.replica([Self.record(1, 1, modSeq: 3), Self.record(2, 4, modSeq: 4)], lastUID: 2, modSeq: 4),
            now: 1_800_000_000
        )
        #expect(Self.kinds(merge) == [.guidConflict, .copiedBack, .renumbered])
        #expect(merge.fetches.map(\.guid) == [Self.guid(4)])
        #expect(merge.replicaExpunges == [UID(2)])
        let records = merge.update.records
        #expect(records.map(\.uid) == [UID(2), UID(3), UID(4)])
        #expect(records[0].guid == Self.guid(9) && records[0].isExpunged, "ours expunged at the contested UID")
        #expect(records[1].guid == Self.guid(4) && !records[1].isExpunged, "the replica's (lower GUID) first")
        #expect(records[2].guid == Self.guid(9) && !records[2].isExpunged)
        #expect(records.allSatisfy { $0.modSeq.rawValue > 5 }, "every rewrite above both HIGHESTMODSEQs")
        #expect(merge.update.mailbox.lastUID == 4 && merge.update.mailbox.uidValidity == UIDValidity(7))
        #expect(merge.update.force && merge.update.expectedHighestModSeq == ModSeq(5))
    }

    @Test func replicaOnlyMessagesComeBackUnderTheirOwnOrANewUID() {
        let merge = FullMailboxMerge(
            // The master's LAST_UID is 3 (UID 3 expunged and present as a tombstone elsewhere).
            master: Self.master([Self.record(1, 1, modSeq: 3)], lastUID: 3, modSeq: 6),
            replica: Self.replica(
                [
                    Self.record(1, 1, modSeq: 3), Self.record(2, 2, modSeq: 4), Self.record(5, 5, modSeq: 5),
                    Self.record(6, 6, modSeq: 6, expunged: true),
                ],
                lastUID: 6,
                modSeq: 6
            ),
            now: 1_800_000_000
        )
        #expect(Self.kinds(merge) == [.copiedBack, .copiedBack])
        #expect(merge.update.records.map(\.uid) == [UID(5), UID(7)], "UID 5 kept; UID 2 (≤ our LAST_UID) moves")
        #expect(merge.update.records.map(\.guid) == [Self.guid(5), Self.guid(2)])
        #expect(merge.replicaExpunges == [UID(2)])
        #expect(Set(merge.fetches.map(\.guid)) == [Self.guid(2), Self.guid(5)])
    }

    @Test func aCopyAnInterruptedMergeAlreadyMadeIsNotMadeTwice() {
        // A previous run copied the replica's UID 2 (GUID 2) back as UID 4, then died before
        // its APPLY EXPUNGE: the replica still has UID 2 and LAST_UID 3.
        let merge = FullMailboxMerge(
            master: Self.master(
                [
                    Self.record(1, 1, modSeq: 3), Self.record(2, 9, modSeq: 7, expunged: true),
                    Self.record(4, 2, modSeq: 6), Self.record(5, 9, modSeq: 8),
                ],
                lastUID: 5,
                modSeq: 8
            ),
            replica: Self.replica([Self.record(1, 1, modSeq: 3), Self.record(2, 2, modSeq: 4)], lastUID: 3, modSeq: 4),
            now: 1_800_000_000
        )
        #expect(Self.kinds(merge) == [.alreadyCopied])
        #expect(merge.fetches.isEmpty && merge.replicaExpunges == [UID(2)])
        #expect(!merge.update.records.contains { $0.guid == Self.guid(2) && $0.uid != UID(4) })
    }

    @Test func newerReplicaFlagsWinAndOlderOnesLose() {
        let seen = FlagSet([.seen])
        let flagged = FlagSet([.flagged])
        let merge = FullMailboxMerge(
            master: Self.master(
                [
                    Self.record(1, 1, modSeq: 3, flags: seen, updated: 100),
                    Self.record(2, 2, modSeq: 9, flags: seen, updated: 300),
                    Self.record(3, 3, modSeq: 4),
                ],
                lastUID: 3,
                modSeq: 9
            ),
            replica: Self.replica(
                [
                    Self.record(1, 1, modSeq: 8, flags: flagged, updated: 200),
                    Self.record(2, 2, modSeq: 8, flags: flagged, updated: 400),
                    Self.record(3, 3, modSeq: 7, expunged: true),
                ],
                lastUID: 3,
                modSeq: 8
            ),
            now: 1_800_000_000
        )
        #expect(Self.kinds(merge) == [.replicaWon, .expungedHere])
        let byUID = Dictionary(uniqueKeysWithValues: merge.update.records.map { ($0.uid, $0) })
        #expect(byUID[UID(1)]?.flags == flagged, "replica MODSEQ and LAST_UPDATED newer")
        #expect(byUID[UID(2)]?.flags == seen, "replica MODSEQ lower: the master wins, rewritten to be sent")
        #expect(byUID[UID(3)]?.isExpunged == true)
        #expect(merge.fetches.isEmpty && merge.replicaExpunges.isEmpty)
    }

    @Test func aHigherReplicaUIDValidityAndModSeqAreAdoptedNeverLowered() {
        let records = [Self.record(1, 1, modSeq: 3)]
        let note = ReplicaMailboxSummary.AnnotationKey(entry: "/comment", userID: "", value: Array("theirs".utf8))
        let higher = FullMailboxMerge(
            master: Self.master(records, lastUID: 1, modSeq: 3, uidValidity: 7),
            replica: Self.replica(records, lastUID: 1, modSeq: 12, uidValidity: 9, annotations: [note]),
            now: 1_800_000_000
        )
        #expect(Self.kinds(higher) == [.uidValidityAdopted])
        #expect(
            higher.update.mailbox.uidValidity == UIDValidity(9) && higher.update.mailbox.highestModSeq == ModSeq(12)
        )
        #expect(higher.update.annotations.map(\.value) == [Array("theirs".utf8)], "the replica was ahead")
        #expect(higher.changesMaster)
        let lower = FullMailboxMerge(
            master: Self.master(records, lastUID: 1, modSeq: 13, uidValidity: 7),
            replica: Self.replica(records, lastUID: 1, modSeq: 12, uidValidity: 5, annotations: [note]),
            now: 1_800_000_000
        )
        #expect(lower.update.mailbox.uidValidity == UIDValidity(7) && lower.decisions.isEmpty)
        #expect(lower.update.annotations.isEmpty, "the master was ahead: its (empty) set stands")
    }

    @Test func ourMessageUnderAUIDTheReplicaSpentMoves() {
        // The replica's LAST_UID passed UID 3 (it purged what it had there); ours must move.
        let merge = FullMailboxMerge(
            master: Self.master([Self.record(1, 1, modSeq: 3), Self.record(3, 3, modSeq: 4)], lastUID: 3, modSeq: 4),
            replica: Self.replica([Self.record(1, 1, modSeq: 3)], lastUID: 5, modSeq: 6),
            now: 1_800_000_000
        )
        #expect(Self.kinds(merge) == [.renumbered])
        #expect(merge.update.records.map(\.uid) == [UID(3), UID(6)])
        #expect(merge.update.records[0].isExpunged && !merge.update.records[1].isExpunged)
    }
}
