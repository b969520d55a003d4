import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Testing

@testable import Replication

/// `corvid check --replica`: ``ReplicaComparison`` and the check run over a real pair.
@Suite struct ReplicaCheckTests {
    static let alice = SyncClientTests.alice

    @Test func recordDifferencesAreNamedByUID() {
        let r = FullMailboxMergeTests.record
        let master = FullMailboxMergeTests.master(
            [
                r(1, 1, 3, FlagSet([.seen]), false, 1), r(2, 2, 4, FlagSet(), false, 1),
                r(3, 3, 5, FlagSet(), false, 1), r(4, 4, 6, FlagSet(), true, 1),
            ],
            lastUID: 4,
            modSeq: 6
        )
        let replica = FullMailboxMergeTests.replica(
            [
                r(1, 1, 3, FlagSet([.flagged]), false, 1), r(3, 9, 5, FlagSet(), false, 1),
                r(4, 4, 6, FlagSet(), true, 1), r(5, 5, 7, FlagSet(), false, 1),
            ],
            lastUID: 5,
            modSeq: 7
        )
        let lines = ReplicaComparison.records(master, replica).map(\.detail)
        #expect(lines.count == 4, "\(lines)")
        #expect(lines[0].hasPrefix("UID 1: flags (\\Seen) here, (\\Flagged) on the replica"))
        #expect(lines[1].hasPrefix("UID 2: missing on the replica"))
        #expect(lines[2].hasPrefix("UID 3: GUID"))
        #expect(lines[3].hasPrefix("UID 5: only on the replica"))
    }

    @Test func aSyncedPairHasNoDifferenceAndRepairSettlesOne() async throws {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let users = [try UserName("alice"), try UserName("bob")]
        _ = try await pair.sync(.users(users))
        let clean = try await pair.sync(.check(users: users, sharedMailboxes: [], repair: false))
        #expect(clean.failures.isEmpty && clean.differences.isEmpty, "\(clean.differences)")
        #expect(clean.applyCount == 0, "a check changes nothing")

        _ = try await pair.replica.store.storeFlags(.add(FlagSet([.draft])), uids: [UID(2)], in: Self.alice)
        _ = try await pair.replica.store.createMailbox(SyncClientTests.folder("Extra"), acl: nil)
        _ = try await pair.master.storeFlags(.add(FlagSet([.answered])), uids: [UID(3)], in: Self.alice)
        let found = try await pair.sync(.check(users: users, sharedMailboxes: [], repair: false))
        let text = found.differences.map(\.description)
        #expect(text.contains { $0.hasPrefix("user.alice: UID 2: flags") }, "\(text)")
        #expect(text.contains { $0.hasPrefix("user.alice: UID 3: flags") }, "\(text)")
        #expect(text.contains("user.alice.Extra: only on the replica (never known here)"), "\(text)")
        #expect(found.remainingDifferences == found.differences && found.applyCount == 0)

        let repaired = try await pair.sync(.check(users: users, sharedMailboxes: [], repair: true))
        #expect(repaired.differences.count == found.differences.count)
        #expect(repaired.remainingDifferences.isEmpty, "\(repaired.remainingDifferences)")
        let records = try await pair.master.records(in: Self.alice, includeExpunged: false)
        #expect(records.first { $0.uid == UID(2) }?.flags.contains(.draft) == true, "the replica's newer flag")
        #expect(try await pair.master.mailbox(SyncClientTests.folder("Extra")) != nil, "copied back")
        #expect(try await pair.differences(users: ["alice", "bob"]) == [])
    }
}
