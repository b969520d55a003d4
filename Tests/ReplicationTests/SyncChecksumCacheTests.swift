import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Replication
import SessionTestSupport
import Testing

/// The cached SYNC_CRC / SYNC_CRC_ANNOT must always equal the value computed from every
/// record, whatever happened to the mailbox in between, and the records a read hands back
/// must be exactly those the caller asked for.
@Suite struct SyncChecksumCacheTests {
    let temporary: TemporaryMailStore
    var store: SQLiteMailStore { temporary.store }
    let inbox = MailboxName.inbox(of: try! UserName("alice"))

    init() async throws {
        temporary = try TemporaryMailStore(prefix: "corvid-crc-cache")
        try await temporary.addUsers(["alice"])
    }

    func deliver(_ count: Int, to name: MailboxName) async throws {
        for index in 0..<count {
            let writer = try await store.beginMessage()
            try await writer.write(
                ByteBuffer(string: "Subject: \(index) \(UInt64.random(in: 0...UInt64.max))\r\n\r\nbody\r\n")
            )
            let staged = try await writer.finish()
            for result in await store.deliver(staged, to: [DeliveryTarget(mailbox: name, internalDate: 1_700_000_000)])
            {
                _ = try result.get()
            }
        }
    }

    /// The checksums of every record, computed without the cache.
    func truth(_ name: MailboxName) async throws -> MailboxChecksums {
        let state = try #require(try await store.replicaState(of: name, records: true))
        return MailboxChecksums(records: state.records)
    }

    @Test(arguments: [UInt64(1), 7, 42, 1_000])
    func randomWritesKeepTheCachedValueExact(seed: UInt64) async throws {
        var random = SplitMix(state: seed)
        let cache = SyncChecksumCache()
        let other = try MailboxName.inbox(of: UserName("alice")).child("Archive")
        _ = try await store.createMailbox(other, acl: nil)
        try await deliver(20, to: inbox)
        for step in 0..<60 {
            let live = try await store.records(in: inbox, includeExpunged: false).map(\.uid)
            let some = live.filter { _ in Bool.random(using: &random) }
            switch Int.random(in: 0..<6, using: &random) {
            case 0: try await deliver(Int.random(in: 1...3, using: &random), to: inbox)
            case 1:
                _ = try await store.storeFlags(
                    .add(FlagSet([.seen, .flagged])),
                    uids: some,
                    in: inbox,
                    unchangedSince: nil
                )
            case 2:
                let keyword = try #require(Flag("Tag\(Int.random(in: 0..<3, using: &random))"))
                _ = try await store.storeFlags(.replace(FlagSet([keyword])), uids: some, in: inbox, unchangedSince: nil)
            case 3: _ = try await store.expunge(uids: Array(some.prefix(2)), in: inbox)
            case 4: _ = try await store.copyMessages(uids: Array(some.prefix(3)), from: inbox, to: other, move: true)
            default:
                _ = try await store.copyMessages(uids: Array(some.prefix(2)), from: other, to: inbox, move: false)
            }
            // Sometimes read, sometimes let several changes pile up between reads.
            guard step % 3 != 1 else { continue }
            for name in [inbox, other] {
                let read = try #require(try await cache.read(.name(name), needing: .none, from: store))
                #expect(read.checksums == (try await truth(name)), "seed \(seed) step \(step) \(name)")
                #expect(read.state.records.isEmpty)
            }
        }
        #expect(cache.recordCount > 0)
    }

    @Test func aReadReturnsOnlyTheRecordsAskedFor() async throws {
        let cache = SyncChecksumCache()
        try await deliver(10, to: inbox)
        let first = try #require(try await cache.read(.name(inbox), needing: .all, from: store))
        #expect(first.state.records.count == 10)
        let since = first.state.mailbox.highestModSeq
        let lastUID = first.state.mailbox.lastUID
        _ = try await store.storeFlags(.add(FlagSet([.seen])), uids: [UID(3)], in: inbox, unchangedSince: nil)
        try await deliver(2, to: inbox)
        let delta = try #require(
            try await cache.read(
                .uniqueID(first.state.mailbox.uniqueID),
                needing: .changed(sinceModSeq: since, aboveUID: lastUID),
                from: store
            )
        )
        #expect(delta.state.records.map(\.uid.rawValue) == [3, 11, 12])
        #expect(delta.checksums == (try await truth(inbox)))
    }

    /// A record changed without a modseq above the cached HIGHESTMODSEQ (here: one removed,
    /// as `corvid check` removes records whose file is lost) is caught by the live count.
    @Test func aChangeBehindTheModseqIsCaughtByTheLiveCount() async throws {
        let cache = SyncChecksumCache()
        try await deliver(5, to: inbox)
        let before = try #require(try await cache.read(.name(inbox), needing: .none, from: store))
        #expect(before.checksums == (try await truth(inbox)))
        // An out-of-order replica apply: UID 2 expunged with a modseq below HIGHESTMODSEQ.
        try await temporary.expungeBehindModSeq(UID(2), in: inbox)
        let after = try #require(try await cache.read(.name(inbox), needing: .none, from: store))
        #expect(after.checksums == (try await truth(inbox)))
        #expect(after.checksums != before.checksums)
    }

    @Test func freshRecomputesAndTheLimitEvicts() async throws {
        let cache = SyncChecksumCache(recordLimit: 8)
        let other = try MailboxName.inbox(of: UserName("alice")).child("Other")
        _ = try await store.createMailbox(other, acl: nil)
        try await deliver(5, to: inbox)
        try await deliver(6, to: other)
        _ = try await cache.read(.name(inbox), needing: .none, from: store)
        #expect(cache.recordCount == 5)
        // Both do not fit: the least recently used mailbox goes.
        let read = try #require(try await cache.read(.name(other), needing: .none, from: store))
        #expect(cache.recordCount == 6)
        #expect(read.checksums == (try await truth(other)))
        let fresh = try #require(try await cache.read(.name(inbox), needing: .none, from: store, fresh: true))
        #expect(fresh.checksums == (try await truth(inbox)))
        #expect(cache.recordCount == 5)
        cache.forget(uniqueID: fresh.state.mailbox.uniqueID)
        #expect(cache.recordCount == 0)
    }
}
