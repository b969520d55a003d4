import Logging
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Replication
import SessionTestSupport
import Synchronization
import Testing

/// Connections to an in-memory Corvid replica that the test can take away (connections
/// refused, open ones cut) and give back.
final class ReplicaLink: SyncClientConnector {
    struct Unreachable: Error {}

    let replica: SyncTestServer
    private let state = Mutex<(up: Bool, open: [AsyncStream<ByteBuffer>.Continuation])>((true, []))
    private let opened = Atomic<Int>(0)
    private let turnedAway = Atomic<Int>(0)

    init(replica: SyncTestServer, up: Bool = true) {
        self.replica = replica
        state.withLock { $0.up = up }
    }

    /// Sessions opened so far.
    var connections: Int { opened.load(ordering: .relaxed) }
    /// Connection attempts refused while the replica was down.
    var refused: Int { turnedAway.load(ordering: .relaxed) }

    func setUp(_ up: Bool) {
        let cut = state.withLock { state -> [AsyncStream<ByteBuffer>.Continuation] in
            state.up = up
            defer { if !up { state.open = [] } }
            return up ? [] : state.open
        }
        for stream in cut { stream.finish() }
    }

    func withConnection<Body: SyncClientSessionBody>(_ body: Body) async throws -> Body.Result {
        let (toServer, toServerSink) = AsyncStream<ByteBuffer>.makeStream()
        let (toClient, toClientSink) = AsyncStream<ByteBuffer>.makeStream()
        let admitted = state.withLock { state -> Bool in
            guard state.up else { return false }
            state.open.append(toClientSink)
            return true
        }
        guard admitted else {
            turnedAway.add(1, ordering: .relaxed)
            throw Unreachable()
        }
        opened.add(1, ordering: .relaxed)
        let connection = replica.connection
        let server = Task {
            defer { toClientSink.finish() }
            try await connection.run(
                peer: "master",
                input: toServer,
                transport: SyncTestClient.Transport(sink: toClientSink),
                tlsActive: false
            )
        }
        defer {
            toServerSink.finish()
            toClientSink.finish()
            server.cancel()
        }
        return try await body.run(input: toClient, transport: SyncMasterPair.ClientTransport(sink: toServerSink))
    }
}

/// Rolling replication end to end, in memory: a master store, ``RollingReplicator``s and
/// Corvid replicas (``SyncTestServer``).
@Suite struct RollingReplicatorTests {
    static let alice = SyncClientTests.alice
    static let users = ["alice", "bob"]

    static func settings(_ channel: String = "default") -> RollingReplicationSettings {
        RollingReplicationSettings(
            channel: channel,
            repeatInterval: 0.02,
            reconnectInitialWait: 0.01,
            reconnectMaxWait: 0.05,
            itemRetryInitialWait: 0.01,
            failuresBeforeQuarantine: 3,
            quarantineRetryInterval: 600,
            failureReloadInterval: 0.05
        )
    }

    /// Runs a channel from `store` to the link's replica until the returned task is cancelled.
    static func start(
        _ store: any MailStore,
        _ link: ReplicaLink,
        channel: String = "default",
        ackBoard: ReplicaAckBoard? = nil
    ) -> Task<Void, Never> {
        let replicator = RollingReplicator(
            settings: settings(channel),
            store: store,
            client: SyncClient(
                store: store,
                configuration: SyncClientConfiguration(authName: "repluser", password: "secret"),
                logger: Logger(label: "test.rolling")
            ),
            connector: link,
            clock: SQLiteMailStore.systemTime,
            ackBoard: ackBoard
        )
        return Task { await replicator.run() }
    }

    static func stop(_ task: Task<Void, Never>) async {
        task.cancel()
        await task.value
    }

    /// Waits (bounded) until `condition` holds; records an issue with `what` if it never does.
    static func eventually(
        _ what: String,
        within seconds: Double = 20,
        _ condition: () async throws -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("timed out waiting for: \(what)")
    }

    /// Waits until the channel's durable cursor has reached the newest change.
    static func caughtUp(_ store: any MailStore, channel: String = "default") async throws {
        try await eventually("channel \(channel) commits its cursor") {
            let newest = try await store.changeFeedPosition(after: nil).newest
            return try await store.replicationCursor(channel)?.sequence == newest
        }
    }

    /// Waits until the replica equals the master for `users`.
    static func converge(_ pair: SyncMasterPair, replica: SyncTestServer? = nil, users: [String] = users) async throws {
        let other = replica ?? pair.replica
        var last: [String] = []
        try await eventually("replica converges") {
            last = try await differences(pair.master, other.store, users: users)
            return last.isEmpty
        }
        #expect(last == [])
    }

    /// The master's and a replica's differences (as ``SyncMasterPair/differences(users:)``).
    static func differences(
        _ master: SQLiteMailStore,
        _ replica: SQLiteMailStore,
        users: [String]
    ) async throws
        -> [String]
    {
        var problems: [String] = []
        for user in users {
            let inbox = MailboxName.inbox(of: try UserName(user))
            let ours = try await master.mailboxes(under: inbox)
            let theirs = try await replica.mailboxes(under: inbox)
            if ours.map(\.name) != theirs.map(\.name) { problems.append("\(user): mailboxes differ") }
            for mailbox in ours {
                guard let mine = try await master.replicaState(of: mailbox.name, records: true),
                    let other = try await replica.replicaState(of: mailbox.name, records: true)
                else {
                    problems.append("\(mailbox.name): missing on the replica")
                    continue
                }
                if mine.mailbox.uniqueID != other.mailbox.uniqueID { problems.append("\(mailbox.name): uniqueid") }
                if mine.mailbox.highestModSeq != other.mailbox.highestModSeq {
                    problems.append("\(mailbox.name): highestmodseq")
                }
                if mine.records.map(SyncMasterPair.comparable) != other.records.map(SyncMasterPair.comparable) {
                    problems.append("\(mailbox.name): records")
                }
            }
        }
        return problems
    }

    @Test func deliveriesFlagsCreatesAndRenamesFlowToTheReplica() async throws {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let link = ReplicaLink(replica: pair.replica)
        let task = Self.start(pair.master, link)
        // A new channel syncs everything first.
        try await Self.converge(pair)
        try await pair.deliver(SyncClientTests.message(10), to: [Self.alice])
        let inbox = try await pair.master.records(in: Self.alice, includeExpunged: false)
        _ = try await pair.master.storeFlags(.add(FlagSet([.flagged])), uids: [inbox[0].uid], in: Self.alice)
        _ = try await pair.master.createMailbox(SyncClientTests.folder("Projects"), acl: nil)
        try await pair.deliver(SyncClientTests.message(11), to: [SyncClientTests.folder("Projects")])
        try await Self.converge(pair)
        let projects = try await pair.master.mailbox(SyncClientTests.folder("Projects"))
        try await pair.master.renameMailbox(SyncClientTests.folder("Projects"), to: SyncClientTests.folder("Done"))
        _ = try await pair.master.expunge(uids: [inbox[1].uid], in: Self.alice)
        try await Self.converge(pair)
        // Renamed on the replica (same uniqueid), not recreated.
        let renamed = try await pair.replica.store.mailbox(SyncClientTests.folder("Done"))
        #expect(renamed?.uniqueID == projects?.uniqueID)
        #expect(try await pair.replica.store.mailbox(SyncClientTests.folder("Projects")) == nil)
        // One session served every batch.
        #expect(link.connections == 1)
        try await Self.caughtUp(pair.master)
        await Self.stop(task)
    }

    @Test func quotaSeenSubscriptionsAndUserDeletionFollow() async throws {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        _ = try await pair.master.createUser(try UserName("carol"), passwordVerifier: "x", quota: QuotaLimits())
        let link = ReplicaLink(replica: pair.replica)
        let task = Self.start(pair.master, link)
        try await Self.converge(pair, users: Self.users + ["carol"])
        try await Self.caughtUp(pair.master)
        let bob = try UserName("bob")
        let inbox = try #require(try await pair.master.mailbox(Self.alice))
        let seen = SeenState(lastRead: 1_700_000_200, lastUID: 5, lastChange: 1_700_000_200, seenUIDs: "1:4")
        try await pair.master.setSeenState(seen, of: bob, mailboxUniqueID: inbox.uniqueID)
        try await pair.master.setQuota("user.alice", limits: QuotaLimits(storageKiB: 5_000, messages: 50))
        try await pair.master.unsubscribe(bob, from: Self.alice)
        try await pair.master.subscribe(bob, to: SyncClientTests.folder("Sent"))
        try await pair.master.deleteUser(try UserName("carol"))
        try await Self.caughtUp(pair.master)
        let replica = pair.replica.store
        #expect(try await replica.seenState(of: bob, mailboxUniqueID: inbox.uniqueID)?.seenUIDs == "1:4")
        let quota = try await replica.quotaRoot("user.alice")
        #expect(quota?.storageLimitKiB == 5_000)
        #expect(quota?.messageLimit == 50)
        #expect(try await replica.subscriptions(of: bob) == [SyncClientTests.folder("Sent")])
        #expect(try await replica.mailboxes(under: .inbox(of: try UserName("carol"))).isEmpty)
        try await Self.converge(pair)
        // Server annotations (`ANNOTATION ""`): set, then removed.
        let motd = Annotation(uid: nil, entry: "/motd", userID: "", value: Array("maintenance at 2".utf8))
        try await pair.master.setServerAnnotation(motd)
        try await Self.caughtUp(pair.master)
        #expect(try await replica.serverAnnotations().map(\.value) == [motd.value])
        try await pair.master.setServerAnnotation(Annotation(uid: nil, entry: "/motd", userID: "", value: nil))
        try await Self.caughtUp(pair.master)
        #expect(try await replica.serverAnnotations().isEmpty)
        await Self.stop(task)
    }

    /// `sync_ack: replica`: a waiter returns once the replica holds what was committed (it is
    /// there the moment the wait returns), and gives up after the timeout when the replica is
    /// away.
    @Test func syncAckWaitsForTheReplicaAndGivesUpWhenItIsAway() async throws {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let link = ReplicaLink(replica: pair.replica)
        let board = ReplicaAckBoard(store: pair.master, channels: ["default"], timeout: .seconds(1))
        let task = Self.start(pair.master, link, ackBoard: board)
        try await Self.converge(pair)
        for n in 50..<55 {
            try await pair.deliver(SyncClientTests.message(n), to: [Self.alice])
            #expect(await board.waitForReplicas(of: [Self.alice]))
            let there = try await pair.replica.store.records(in: Self.alice, includeExpunged: false)
            #expect(there.count == 4 + n - 49, "delivery \(n) is on the replica when the wait returns")
        }
        link.setUp(false)
        try await pair.deliver(SyncClientTests.message(60), to: [Self.alice])
        let started = ContinuousClock.now
        #expect(await board.waitForReplicas(of: [Self.alice]) == false, "no replica: no acknowledgement")
        #expect(ContinuousClock.now - started >= .seconds(1), "it waited the whole timeout")
        link.setUp(true)
        try await Self.eventually("acknowledged once the replica is back") {
            await board.waitForReplicas(of: [Self.alice])
        }
        #expect(try await pair.replica.store.records(in: Self.alice, includeExpunged: false).count == 10)
        await Self.stop(task)
    }

    /// A split brain over a cut link: both sides deliver under the same UID. Once the link is
    /// back, the channel's verification keeps both messages, and the GUID conflict is kept in
    /// the store for `corvid sync status`.
    @Test func aGUIDConflictIsMergedAndRecordedForTheAdministrator() async throws {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let link = ReplicaLink(replica: pair.replica)
        var settings = Self.settings()
        settings.verifyEachSession = true
        let replicator = RollingReplicator(
            settings: settings,
            store: pair.master,
            client: SyncClient(
                store: pair.master,
                configuration: SyncClientConfiguration(authName: "repluser", password: "secret"),
                logger: Logger(label: "test.rolling")
            ),
            connector: link,
            clock: SQLiteMailStore.systemTime
        )
        let task = Task { await replicator.run() }
        try await Self.converge(pair)
        link.setUp(false)
        let ours = try await SplitBrainTests.deliver(SyncClientTests.message(70), to: pair.master)
        let theirs = try await SplitBrainTests.deliver(SyncClientTests.message(71), to: pair.replica.store)
        #expect(ours.uid == theirs.uid)
        link.setUp(true)
        try await pair.deliver(SyncClientTests.message(72), to: [Self.alice])
        try await Self.eventually("both messages on both sides") {
            try await pair.differences(users: Self.users, strictTombstones: false).isEmpty
        }
        let live = try await pair.master.records(in: Self.alice, includeExpunged: false).map(\.guid)
        #expect(live.contains(ours.guid) && live.contains(theirs.guid))
        // Recorded right after the batch that merged (the stores can agree a moment before).
        var conflicts: [ReplicationConflict] = []
        try await Self.eventually("the conflict is recorded") {
            conflicts = try await pair.master.replicationConflicts(channel: "default", limit: 10)
            return !conflicts.isEmpty
        }
        #expect(
            conflicts.contains { $0.text.contains("split brain") && $0.text.contains("UID \(ours.uid)") },
            "\(conflicts)"
        )
        await Self.stop(task)
    }

    @Test func aReplicaAbsentAtStartIsCaughtUpWhenItComes() async throws {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let link = ReplicaLink(replica: pair.replica, up: false)
        let task = Self.start(pair.master, link)
        try await pair.deliver(SyncClientTests.message(20), to: [Self.alice])
        // The channel keeps trying, backing off; nothing is committed meanwhile.
        try await Self.eventually("connection attempts are retried") { link.refused >= 3 }
        #expect(try await pair.master.replicationCursor("default") == nil)
        link.setUp(true)
        try await Self.converge(pair)
        // Cut mid-stream, deliver, come back: caught up with no command.
        link.setUp(false)
        for n in 21..<26 { try await pair.deliver(SyncClientTests.message(n), to: [Self.alice]) }
        link.setUp(true)
        try await Self.converge(pair)
        #expect(link.connections >= 2)
        await Self.stop(task)
    }

    @Test func aFailingMailboxIsQuarantinedWhileOthersFlowAndRetryClearsIt() async throws {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let link = ReplicaLink(replica: pair.replica)
        let task = Self.start(pair.master, link)
        try await Self.converge(pair)
        // The replica holds a mailbox the master never knew, with mail in it, under the name
        // the master now creates: every APPLY MAILBOX for it is refused (IMAP_MAILBOX_MOVED;
        // an empty one would be replaced).
        let bad = SyncClientTests.folder("Bad")
        _ = try await pair.replica.store.createMailbox(bad, acl: nil)
        let target = DeliveryTarget(mailbox: bad, flags: FlagSet(), internalDate: 1)
        let staged = try await SyncClientTests.staged(pair.replica.store, SyncClientTests.message(29))
        for result in await pair.replica.store.deliver(staged, to: [target]) { _ = try result.get() }
        _ = try await pair.master.createMailbox(bad, acl: nil)
        try await pair.deliver(SyncClientTests.message(30), to: [bad, Self.alice])
        try await Self.eventually("the mailbox is quarantined") {
            try await pair.master.replicationFailures(channel: "default").first?.quarantined == true
        }
        let failures = try await pair.master.replicationFailures(channel: "default")
        #expect(failures.map(\.item) == [ReplicationItem(.mailbox, bad.internalName)])
        #expect(failures.first?.failures == 3)
        #expect(failures.first?.reason.isEmpty == false)
        // Everything else keeps flowing.
        try await pair.deliver(SyncClientTests.message(31), to: [Self.alice])
        try await Self.eventually("the INBOX still flows") {
            let ours = try await pair.master.replicaState(of: Self.alice, records: false)?.mailbox.highestModSeq
            let theirs = try await pair.replica.store.replicaState(of: Self.alice, records: false)?.mailbox
                .highestModSeq
            return ours == theirs
        }
        try await Self.caughtUp(pair.master)
        // Repaired on the replica, then `corvid sync retry`: it leaves quarantine.
        try await pair.replica.store.deleteMailbox(bad)
        #expect(try await pair.master.retryReplicationItems(named: bad.internalName, channel: nil) == 1)
        try await Self.eventually("the retried mailbox leaves quarantine") {
            try await pair.master.replicationFailures(channel: nil).isEmpty
        }
        try await Self.converge(pair)
        await Self.stop(task)
    }

    @Test func theCursorSurvivesAMasterRestartAndNothingIsLost() async throws {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let link = ReplicaLink(replica: pair.replica)
        let first = Self.start(pair.master, link)
        try await Self.converge(pair)
        try await Self.caughtUp(pair.master)
        await Self.stop(first)
        let stopped = try #require(try await pair.master.replicationCursor("default"))
        // Changes while no replicator runs (the master is "down" for replication).
        for n in 40..<44 { try await pair.deliver(SyncClientTests.message(n), to: [Self.alice]) }
        _ = try await pair.master.createMailbox(SyncClientTests.folder("After"), acl: nil)
        // A new process opens the store and carries on from the durable cursor.
        let reopened = try pair.temporary.reopened()
        let second = Self.start(reopened, link)
        try await Self.converge(pair)
        try await Self.caughtUp(reopened)
        await Self.stop(second)
        let resumed = try #require(try await reopened.replicationCursor("default"))
        #expect(resumed.sequence > stopped.sequence)
        #expect(resumed.sequence == (try await reopened.changeFeedPosition(after: nil)).newest)
    }

    @Test func twoChannelsFeedTwoReplicasEachAtItsOwnPace() async throws {
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let second = try SyncTestServer()
        let linkA = ReplicaLink(replica: pair.replica)
        let linkB = ReplicaLink(replica: second, up: false)
        let a = Self.start(pair.master, linkA, channel: "a")
        let b = Self.start(pair.master, linkB, channel: "b")
        try await Self.converge(pair)
        try await pair.deliver(SyncClientTests.message(50), to: [Self.alice])
        try await Self.converge(pair)
        // The second replica is added later (down until now): caught up while the first runs.
        linkB.setUp(true)
        try await pair.deliver(SyncClientTests.message(51), to: [Self.alice])
        try await Self.converge(pair, replica: second)
        try await Self.converge(pair)
        try await Self.caughtUp(pair.master, channel: "a")
        try await Self.caughtUp(pair.master, channel: "b")
        await Self.stop(a)
        await Self.stop(b)
        let cursors = try await pair.master.replicationCursors()
        #expect(cursors.map(\.channel) == ["a", "b"])
    }

    @Test func aChannelBehindThePrunedFeedSyncsEverything() async throws {
        // A tiny retention: a channel pins the feed only up to 10 × 2 changes.
        let master = try TemporaryMailStore(prefix: "corvid-master", changeRetention: 2)
        let store = master.store
        let replica = try SyncTestServer()
        _ = try await store.createUser(try UserName("alice"), passwordVerifier: "x", quota: QuotaLimits())
        let link = ReplicaLink(replica: replica)
        // The channel replicated up to here once…
        let early = try await store.changeFeedPosition(after: nil).newest
        try await store.recordReplicationProgress(ReplicationProgress(channel: "default", cursor: early, time: 0))
        // …then fell far behind while the feed was pruned past its cursor: the folder's
        // creation is no longer in the feed, only a full sync can bring it.
        let old = try MailboxName.inbox(of: try UserName("alice")).child("Old")
        _ = try await store.createMailbox(old, acl: nil)
        for n in 0..<30 { _ = try await master.deliver(SyncClientTests.message(n), to: "alice") }
        try await store.collectGarbage()
        let feed = try await store.changeFeedPosition(after: nil)
        #expect(feed.prunedThrough > early)
        let task = Self.start(store, link)
        var last: [String] = []
        try await Self.eventually("the full sync copies everything") {
            last = try await Self.differences(store, replica.store, users: ["alice"])
            return last.isEmpty
        }
        #expect(last == [])
        #expect(try await replica.store.mailbox(old) != nil)
        try await Self.caughtUp(store)
        await Self.stop(task)
    }
}
