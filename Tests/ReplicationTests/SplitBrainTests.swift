import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Replication
import Testing

/// Both sides of a pair took changes while apart (sync-protocol §5.4, replication-scenarios):
/// the master's full update must leave every message on both sides, UIDVALIDITY unchanged,
/// and the two stores equal.
@Suite struct SplitBrainTests {
    static let alice = SyncClientTests.alice
    static let users = ["alice", "bob"]

    /// A populated pair after its first sync.
    static func synced() async throws -> SyncMasterPair {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let first = try await pair.sync(users: users)
        #expect(first.failures.isEmpty, "\(first.failures)")
        return pair
    }

    /// Delivers to alice's INBOX; returns the UID and the message's GUID.
    @discardableResult
    static func deliver(
        _ text: String,
        to store: SQLiteMailStore,
        flags: FlagSet = FlagSet()
    ) async throws -> (uid: UID, guid: MessageGUID) {
        let writer = try await store.beginMessage()
        try await writer.write(ByteBuffer(string: text))
        let staged = try await writer.finish()
        let results = await store.deliver(
            staged,
            to: [DeliveryTarget(mailbox: alice, flags: flags, internalDate: 1_700_000_500)]
        )
        await store.discardStagedMessage(staged)
        return (try results[0].get().uid, staged.guid)
    }

    static func expectEqual(_ pair: SyncMasterPair, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let differences = try await pair.differences(users: users, strictTombstones: false)
        #expect(differences == [], "\(differences)", sourceLocation: sourceLocation)
    }

    static func message(_ label: String) -> String {
        "From: \(label)@example.com\r\nTo: alice@example.com\r\nSubject: \(label)\r\n"
            + "Message-ID: <\(label)@example.com>\r\n\r\n\(label) body.\r\n"
    }

    /// The live messages of alice's INBOX on a store, by GUID, with their UIDs.
    static func live(_ store: SQLiteMailStore) async throws -> [MessageGUID: [UID]] {
        var result: [MessageGUID: [UID]] = [:]
        for record in try await store.records(in: alice, includeExpunged: false) {
            result[record.guid, default: []].append(record.uid)
        }
        return result
    }

    @Test func aMessageOnlyTheReplicaHasIsCopiedBackUnderItsOwnUID() async throws {
        let pair = try await Self.synced()
        let before = try #require(try await pair.master.mailbox(Self.alice))
        let (uid, guid) = try await Self.deliver(
            Self.message("replica-only"),
            to: pair.replica.store,
            flags: FlagSet([.seen])
        )
        #expect(uid == UID(before.lastUID + 1))
        let report = try await pair.sync(users: Self.users)
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.messagesCopiedBack == 1)
        #expect(report.commandCounts["GET FETCH"] == 1)
        #expect(report.commandCounts["APPLY EXPUNGE"] == nil, "same UID: nothing to expunge on the replica")
        let master = try await Self.live(pair.master)
        #expect(master[guid] == [uid])
        let record = try #require(try await pair.master.records(in: Self.alice, includeExpunged: false).last)
        #expect(record.uid == uid && record.flags.contains(.seen) && record.internalDate == 1_700_000_500)
        let after = try #require(try await pair.master.mailbox(Self.alice))
        #expect(after.uidValidity == before.uidValidity)
        try await Self.expectEqual(pair)
        let again = try await pair.sync(users: Self.users)
        #expect(again.applyCount == 0, "\(again.commandCounts)")
    }

    @Test func theSameUIDOnBothSidesKeepsBothMessagesUnderNewUIDs() async throws {
        let pair = try await Self.synced()
        let before = try #require(try await pair.master.mailbox(Self.alice))
        let (ours, masterGUID) = try await Self.deliver(Self.message("master-side"), to: pair.master)
        let (theirs, replicaGUID) = try await Self.deliver(Self.message("replica-side"), to: pair.replica.store)
        #expect(ours == theirs, "split brain: one UID, two messages")
        let report = try await pair.sync(users: Self.users)
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.notes.contains { $0.contains("split brain") && $0.contains("UID \(ours)") }, "\(report.notes)")
        #expect(report.commandCounts["APPLY EXPUNGE"] == 1)
        let master = try await Self.live(pair.master)
        let first = UID(ours.rawValue + 1)
        let second = UID(ours.rawValue + 2)
        // The lower GUID is processed first and takes the lower new UID.
        let (low, high) = replicaGUID < masterGUID ? (replicaGUID, masterGUID) : (masterGUID, replicaGUID)
        #expect(master[low] == [first] && master[high] == [second], "\(master)")
        #expect(!master.values.contains { $0.contains(ours) }, "the contested UID is expunged")
        let after = try #require(try await pair.master.mailbox(Self.alice))
        #expect(after.uidValidity == before.uidValidity && after.lastUID == second.rawValue)
        try await Self.expectEqual(pair)
        #expect(try await Self.live(pair.replica.store) == master)
        let again = try await pair.sync(users: Self.users)
        #expect(again.applyCount == 0, "\(again.commandCounts)")
    }

    /// The master expunged its message at a UID where the replica holds another, live one:
    /// the replica's message is copied back under a new UID and expunged there.
    @Test func aReplicaMessageUnderAUIDTheMasterExpungedMovesToANewUID() async throws {
        let pair = try await Self.synced()
        let (ours, gone) = try await Self.deliver(Self.message("master-gone"), to: pair.master)
        _ = try await pair.master.expunge(uids: [ours], in: Self.alice)
        let (theirs, kept) = try await Self.deliver(Self.message("replica-kept"), to: pair.replica.store)
        #expect(ours == theirs)
        let report = try await pair.sync(users: Self.users)
        #expect(report.failures.isEmpty, "\(report.failures)")
        let master = try await Self.live(pair.master)
        #expect(master[kept] == [UID(ours.rawValue + 1)])
        #expect(master[gone] == nil)
        try await Self.expectEqual(pair)
    }

    /// Flags changed on both sides: the side that changed a message last (higher MODSEQ and
    /// LAST_UPDATED) wins for that message; the replica's expunge is taken over.
    @Test func flagConflictsAndReplicaExpungesMerge() async throws {
        let pair = try await Self.synced()
        // The replica: UID 2 at H+1, UID 3 at H+2, UID 4 expunged at H+3. The master: UID 1 at
        // H+1, UID 3 at H+2.
        _ = try await pair.replica.store.storeFlags(.add(FlagSet([.draft])), uids: [UID(2)], in: Self.alice)
        _ = try await pair.replica.store.storeFlags(.add(FlagSet([.answered])), uids: [UID(3)], in: Self.alice)
        _ = try await pair.replica.store.expunge(uids: [UID(4)], in: Self.alice)
        _ = try await pair.master.storeFlags(.add(FlagSet([.answered])), uids: [UID(1)], in: Self.alice)
        _ = try await pair.master.storeFlags(.add(FlagSet([.flagged])), uids: [UID(3)], in: Self.alice)
        let report = try await pair.sync(users: Self.users)
        #expect(report.failures.isEmpty, "\(report.failures)")
        let records = try await pair.master.records(in: Self.alice, includeExpunged: false)
        let byUID = Dictionary(uniqueKeysWithValues: records.map { ($0.uid, $0) })
        #expect(byUID[UID(1)]?.flags.contains(.answered) == true, "only the master changed UID 1")
        #expect(byUID[UID(2)]?.flags.contains(.draft) == true, "only the replica changed UID 2")
        // UID 3 changed on both sides at the same MODSEQ: the replica's is not newer, so the
        // master's flags stand and the replica's \Answered is dropped (§5.4).
        #expect(byUID[UID(3)]?.flags.contains(.flagged) == true && byUID[UID(3)]?.flags.contains(.answered) == false)
        #expect(byUID[UID(4)] == nil, "expunged on the replica, so expunged here")
        try await Self.expectEqual(pair)
    }

    /// The replica took a delivery and a flag change while the master took others: after one
    /// run every message is on both sides and nothing repeats on the next run.
    @Test func bothSidesTakingWritesConvergeInOneRun() async throws {
        let pair = try await Self.synced()
        var guids: [MessageGUID] = []
        for n in 0..<3 { guids.append(try await Self.deliver(Self.message("m\(n)"), to: pair.master).guid) }
        for n in 0..<2 { guids.append(try await Self.deliver(Self.message("r\(n)"), to: pair.replica.store).guid) }
        _ = try await pair.replica.store.storeFlags(.add(FlagSet([.flagged])), uids: [UID(1)], in: Self.alice)
        let report = try await pair.sync(users: Self.users)
        #expect(report.failures.isEmpty, "\(report.failures)")
        let master = try await Self.live(pair.master)
        for guid in guids { #expect(master[guid]?.count == 1, "\(guid) exactly once") }
        try await Self.expectEqual(pair)
        let again = try await pair.sync(users: Self.users)
        #expect(again.applyCount == 0 && again.messagesCopiedBack == 0, "\(again.commandCounts)")
    }
}
