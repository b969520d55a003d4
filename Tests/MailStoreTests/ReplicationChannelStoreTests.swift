import MailCore
import MailStore
import MailStoreSQLite
import SessionTestSupport
import Testing

/// The store's rolling-replication state: channel cursors, failed items, and change-feed
/// pruning that keeps what channels still need.
@Suite struct ReplicationChannelStoreTests {
    static func item(_ name: String) -> ReplicationItem { ReplicationItem(.mailbox, name) }

    static func failure(_ channel: String, _ name: String, failures: Int, quarantined: Bool) -> ReplicationFailure {
        ReplicationFailure(
            channel: channel,
            item: item(name),
            reason: "commandRefused: NO",
            failures: failures,
            quarantined: quarantined,
            firstFailure: 100,
            lastFailure: 200,
            nextRetry: 800
        )
    }

    @Test func cursorsAndFailedItemsAreCommittedTogether() async throws {
        let t = try TemporaryMailStore(prefix: "corvid-channels")
        let store = t.store
        #expect(try await store.replicationCursor("a") == nil)
        try await store.recordReplicationProgress(
            ReplicationProgress(
                channel: "a",
                cursor: 7,
                time: 200,
                failed: [Self.failure("a", "user.x.Bad", failures: 5, quarantined: true)]
            )
        )
        try await store.recordReplicationProgress(
            ReplicationProgress(
                channel: "b",
                cursor: 3,
                time: 150,
                failed: [Self.failure("b", "user.x.Bad", failures: 1, quarantined: false)]
            )
        )
        #expect(
            try await store.replicationCursor("a") == ReplicationCursor(channel: "a", sequence: 7, lastSuccess: 200)
        )
        #expect(try await store.replicationCursors().map(\.channel) == ["a", "b"])
        #expect(
            try await store.replicationFailures(channel: "a") == [
                Self.failure("a", "user.x.Bad", failures: 5, quarantined: true)
            ]
        )
        #expect(try await store.replicationFailures(channel: nil).count == 2)
        // A retry without a cursor leaves the cursor; `corvid sync retry` resets the item.
        #expect(try await store.retryReplicationItems(named: "user.x.Bad", channel: "a") == 1)
        let reset = try #require(try await store.replicationFailures(channel: "a").first)
        #expect(reset.failures == 0 && !reset.quarantined && reset.nextRetry == 0)
        #expect(try await store.retryReplicationItems(named: "user.x.Other", channel: nil) == 0)
        try await store.recordReplicationProgress(
            ReplicationProgress(channel: "a", cursor: nil, time: 300, succeeded: [Self.item("user.x.Bad")])
        )
        #expect(try await store.replicationFailures(channel: "a").isEmpty)
        #expect(try await store.replicationCursor("a")?.sequence == 7)
        // The store reopened (a restart) has them all.
        let reopened = try t.reopened()
        #expect(try await reopened.replicationCursor("b")?.sequence == 3)
        #expect(try await reopened.replicationFailures(channel: "b").count == 1)
    }

    @Test func pruningKeepsWhatAChannelNeedsUpToTheHardLimit() async throws {
        let t = try TemporaryMailStore(prefix: "corvid-channels", changeRetention: 2)
        let store = t.store
        try await t.addUsers(["alice"])
        let start = try await store.changeFeedPosition(after: nil).newest
        try await store.recordReplicationProgress(ReplicationProgress(channel: "a", cursor: start, time: 0))
        for n in 0..<8 { try await t.deliver("Subject: \(n)\r\n\r\nbody\r\n", to: "alice") }
        try await store.collectGarbage()
        // Within 10 × retention: everything after the channel's cursor is kept.
        var feed = try await store.changeFeedPosition(after: start)
        #expect(feed.prunedThrough <= start)
        #expect(try await store.changes(after: start, limit: 100).count == Int(feed.newest - start))
        #expect(feed.oldestPendingTime != nil)
        // Beyond it the feed is pruned anyway, and the channel can tell it lost changes.
        for n in 0..<30 { try await t.deliver("Subject: \(n)\r\n\r\nbody\r\n", to: "alice") }
        try await store.collectGarbage()
        feed = try await store.changeFeedPosition(after: start)
        #expect(feed.prunedThrough == feed.newest - 20)
        #expect(feed.prunedThrough > start)
        // Without channels, the plain retention applies.
        let plain = try TemporaryMailStore(prefix: "corvid-channels", changeRetention: 2)
        try await plain.addUsers(["bob"])
        for n in 0..<5 { try await plain.deliver("Subject: \(n)\r\n\r\nbody\r\n", to: "bob") }
        try await plain.store.collectGarbage()
        let position = try await plain.store.changeFeedPosition(after: nil)
        #expect(position.prunedThrough == position.newest - 2)
        #expect(try await plain.store.changes(after: 0, limit: 100).count == 2)
    }

    @Test func aRenameCarriesItsPreviousName() async throws {
        let t = try TemporaryMailStore(prefix: "corvid-channels")
        try await t.addUsers(["alice"])
        let inbox = MailboxName.inbox(of: try UserName("alice"))
        _ = try await t.store.createMailbox(try inbox.child("A"), acl: nil)
        _ = try await t.store.createMailbox(try inbox.child("A").child("B"), acl: nil)
        try await t.store.renameMailbox(try inbox.child("A"), to: try inbox.child("Z"))
        let renames = try await t.store.changes(after: 0, limit: 100).filter { $0.kind == .mailboxRename }
        #expect(renames.map(\.previousMailbox) == ["user.alice.A", "user.alice.A.B"])
        #expect(renames.map(\.mailbox) == ["user.alice.Z", "user.alice.Z.B"])
    }
}
