import Logging
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Replication
import SessionTestSupport
import SyncCodec
import Testing

/// A master store and a replica (``SyncTestServer``) joined by `SyncClient` sessions over
/// in-memory streams.
final class SyncMasterPair: Sendable {
    let temporary: TemporaryMailStore
    var master: SQLiteMailStore { temporary.store }
    let replica: SyncTestServer
    /// The master's cached checksums, kept across syncs as a long-running master keeps them.
    let checksums = SyncChecksumCache()

    /// The master's end of the in-memory connection.
    struct ClientTransport: SyncClientTransport {
        let sink: AsyncStream<ByteBuffer>.Continuation
        func write(_ buffer: ByteBuffer) async throws { sink.yield(buffer) }
        var supportsCompression: Bool { false }
        func startCompression() async throws { throw CancellationError() }
    }

    init() throws {
        temporary = try TemporaryMailStore(prefix: "corvid-master")
        replica = try SyncTestServer()
    }

    /// One `SyncClient` run against the replica.
    func sync(_ work: SyncClientWork, password: String = "secret") async throws -> SyncClientReport {
        let (toServer, toServerSink) = AsyncStream<ByteBuffer>.makeStream()
        let (toClient, toClientSink) = AsyncStream<ByteBuffer>.makeStream()
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
        let client = SyncClient(
            store: master,
            configuration: SyncClientConfiguration(authName: "repluser", password: password),
            logger: Logger(label: "test.master"),
            checksums: checksums
        )
        let report = try await client.run(input: toClient, transport: ClientTransport(sink: toServerSink), work: work)
        toServerSink.finish()
        _ = try? await server.value
        return report
    }

    func sync(users: [String]) async throws -> SyncClientReport {
        try await sync(.users(users.map { try UserName($0) }))
    }

    func deliver(_ text: String, to mailboxes: [MailboxName], flags: FlagSet = FlagSet()) async throws {
        let writer = try await master.beginMessage()
        try await writer.write(ByteBuffer(string: text))
        let staged = try await writer.finish()
        let results = await master.deliver(
            staged,
            to: mailboxes.map { DeliveryTarget(mailbox: $0, flags: flags, internalDate: 1_700_000_000) }
        )
        for result in results { _ = try result.get() }
    }

    /// Every difference between the master's and the replica's replication state of the
    /// users' mailboxes (uniqueid, UIDVALIDITY, modseqs, records, flags, annotations, ACL).
    /// With `strictTombstones` false, expunged records are compared by UID only: after a split
    /// brain the two sides keep different expunged messages under the contested UID, which
    /// neither the protocol nor the SYNC_CRC compares (sync-protocol §10.6).
    func differences(users: [String], strictTombstones: Bool = true) async throws -> [String] {
        var problems: [String] = []
        for user in users {
            let inbox = MailboxName.inbox(of: try UserName(user))
            let ours = try await master.mailboxes(under: inbox).map(\.name)
            let theirs = try await replica.store.mailboxes(under: inbox).map(\.name)
            if ours != theirs { problems.append("\(user): mailboxes \(ours) vs \(theirs)") }
            for name in ours {
                guard let mine = try await master.replicaState(of: name, records: true),
                    let other = try await replica.store.replicaState(of: name, records: true)
                else {
                    problems.append("\(name): missing on the replica")
                    continue
                }
                let a = mine.mailbox
                let b = other.mailbox
                if a.uniqueID != b.uniqueID { problems.append("\(name): uniqueid \(a.uniqueID) vs \(b.uniqueID)") }
                if a.uidValidity != b.uidValidity { problems.append("\(name): uidvalidity") }
                if a.lastUID != b.lastUID { problems.append("\(name): last_uid \(a.lastUID) vs \(b.lastUID)") }
                if a.highestModSeq != b.highestModSeq {
                    problems.append("\(name): highestmodseq \(a.highestModSeq) vs \(b.highestModSeq)")
                }
                if a.acl != b.acl { problems.append("\(name): acl \(a.acl) vs \(b.acl)") }
                if a.folderModSeq != b.folderModSeq { problems.append("\(name): foldermodseq") }
                if ReplicaWire.annotationKeys(mine.annotations) != ReplicaWire.annotationKeys(other.annotations) {
                    problems.append("\(name): mailbox annotations")
                }
                if ReplicaWire.checksums(of: mine.records) != ReplicaWire.checksums(of: other.records) {
                    problems.append("\(name): SYNC_CRC differs")
                }
                let text = { (record: ReplicaRecord) in
                    strictTombstones || !record.isExpunged ? Self.comparable(record) : "\(record.uid) expunged"
                }
                let recordsA = mine.records.map(text)
                let recordsB = other.records.map(text)
                if recordsA != recordsB { problems.append("\(name): records\n  \(recordsA)\n  \(recordsB)") }
            }
        }
        return problems
    }

    /// A record as text, without annotation modseqs (which the CRCs do not cover either).
    static func comparable(_ record: ReplicaRecord) -> String {
        let annotations = record.annotations.map {
            "\($0.entry)/\($0.userID)=\($0.value.map { String(decoding: $0, as: UTF8.self) } ?? "nil")"
        }
        .sorted()
        let flags = record.flags.all.map(\.name).sorted()
        return "\(record.uid) m\(record.modSeq) u\(Int(record.lastUpdated)) i\(Int(record.internalDate)) "
            + "\(record.guid.hex.prefix(8)) \(flags) x\(record.isExpunged) \(annotations)"
    }
}

/// `SyncClient` against Corvid's own replica, in memory: first sync, incremental changes,
/// renames and deletes, the retry ladder; the replica's state must equal the master's.
@Suite struct SyncClientTests {
    static func message(_ n: Int) -> String {
        "From: sender\(n)@example.com\r\nTo: alice@example.com\r\nSubject: message \(n)\r\n"
            + "Message-ID: <m\(n)@example.com>\r\n\r\nBody \(n).\r\n"
    }

    static let alice = MailboxName.inbox(of: try! UserName("alice"))

    static func folder(_ name: String) -> MailboxName { try! alice.child(name) }

    /// alice: INBOX (4 messages, flags, keywords, annotations), Sent (a copy), Archive (a
    /// copy), Archive.2020, quota, a subscription; bob: INBOX, a subscription, and seen state
    /// on alice's INBOX.
    static func populate(_ pair: SyncMasterPair) async throws {
        let store = pair.master
        _ = try await store.createUser(try UserName("alice"), passwordVerifier: "x", quota: QuotaLimits())
        _ = try await store.createUser(try UserName("bob"), passwordVerifier: "x", quota: QuotaLimits())
        for name in ["Sent", "Archive"] { _ = try await store.createMailbox(folder(name), acl: nil) }
        _ = try await store.createMailbox(try folder("Archive").child("2020"), acl: nil)
        try await pair.deliver(message(1), to: [alice, folder("Sent")], flags: FlagSet([.seen]))
        try await pair.deliver(message(2), to: [alice], flags: FlagSet([.flagged, Flag("$Custom")!]))
        try await pair.deliver(message(3), to: [alice])
        try await pair.deliver(message(4), to: [alice, folder("Archive")])
        try await store.setAnnotation(
            Annotation(uid: nil, entry: "/comment", userID: "", value: Array("shared note".utf8)),
            in: alice
        )
        try await store.setAnnotation(
            Annotation(uid: nil, entry: "/comment", userID: "bob", value: Array("bob's note".utf8)),
            in: alice
        )
        try await store.setAnnotation(
            Annotation(uid: UID(3), entry: "/comment", userID: "", value: Array("msg note".utf8)),
            in: alice
        )
        try await store.setQuota("user.alice", limits: QuotaLimits(storageKiB: 100_000))
        try await store.subscribe(try UserName("alice"), to: folder("Sent"))
        try await store.subscribe(try UserName("bob"), to: alice)
        let inbox = try #require(try await store.mailbox(alice))
        try await store.setSeenState(
            SeenState(lastRead: 1_700_000_100, lastUID: 4, lastChange: 1_700_000_100, seenUIDs: "1:2"),
            of: try UserName("bob"),
            mailboxUniqueID: inbox.uniqueID
        )
    }

    @Test func firstSyncCopiesEverythingThenIncrementalsSendOnlyChanges() async throws {
        let pair = try SyncMasterPair()
        try await Self.populate(pair)
        let users = ["alice", "bob"]

        let first = try await pair.sync(users: users)
        #expect(first.failures.isEmpty, "\(first.failures)")
        #expect(try await pair.differences(users: users) == [])
        #expect(first.commandCounts["APPLY RESERVE"] == nil, "an empty replica needs no RESERVE")
        #expect(first.messagesUploaded == 4, "messages 1 and 4 are in two mailboxes but uploaded once")
        #expect(first.commandCounts["APPLY MAILBOX"] == 5, "alice's four mailboxes and bob's INBOX")
        #expect(first.commandCounts["RESTART"] == 1 && first.commandCounts["EXIT"] == 1)
        #expect(try await pair.replica.store.quotaRoot("user.alice")?.storageLimitKiB == 100_000)
        #expect(try await pair.replica.store.subscriptions(of: try UserName("alice")) == [Self.folder("Sent")])
        #expect(try await pair.replica.store.subscriptions(of: try UserName("bob")) == [Self.alice])
        let seen = try await pair.replica.store.seenStates(of: try UserName("bob"))
        #expect(seen.values.map(\.seenUIDs) == ["1:2"])

        // Unchanged: GET USER only.
        let idle = try await pair.sync(users: users)
        #expect(idle.failures.isEmpty)
        #expect(idle.applyCount == 0, "\(idle.commandCounts)")

        // Flags, an expunge, a new delivery, quota, a subscription: one delta, one upload.
        _ = try await pair.master.storeFlags(.add(FlagSet([.answered])), uids: [UID(2)], in: Self.alice)
        _ = try await pair.master.storeFlags(.remove(FlagSet([Flag("$Custom")!])), uids: [UID(2)], in: Self.alice)
        _ = try await pair.master.expunge(uids: [UID(3)], in: Self.alice)
        try await pair.deliver(Self.message(5), to: [Self.alice])
        try await pair.master.setQuota("user.alice", limits: QuotaLimits(storageKiB: 200_000))
        try await pair.master.unsubscribe(try UserName("alice"), from: Self.folder("Sent"))
        let second = try await pair.sync(users: users)
        #expect(second.failures.isEmpty, "\(second.failures)")
        #expect(try await pair.differences(users: users) == [])
        #expect(second.commandCounts["APPLY MAILBOX"] == 1, "\(second.commandCounts)")
        #expect(second.commandCounts["APPLY RESERVE"] == 1)
        #expect(second.messagesUploaded == 1)
        #expect(second.recordsSent == 3, "UID 2 (flags), 3 (expunged), 5 (new)")
        #expect(second.commandCounts["APPLY QUOTA"] == 1 && second.commandCounts["APPLY UNSUB"] == 1)
        #expect(try await pair.replica.store.quotaRoot("user.alice")?.storageLimitKiB == 200_000)
        #expect(try await pair.replica.store.subscriptions(of: try UserName("alice")) == [])

        let third = try await pair.sync(users: users)
        #expect(third.failures.isEmpty)
        #expect(third.applyCount == 0, "\(third.commandCounts)")
    }

    @Test func renamesTravelByUniqueIDAndDeletedFoldersGo() async throws {
        let pair = try SyncMasterPair()
        try await Self.populate(pair)
        _ = try await pair.sync(users: ["alice"])
        try await pair.master.renameMailbox(Self.folder("Archive"), to: Self.folder("Old"))
        try await pair.master.deleteMailbox(Self.folder("Sent"))
        _ = try await pair.master.createMailbox(Self.folder("Sent"), acl: nil)
        let report = try await pair.sync(users: ["alice"])
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect((report.commandCounts["APPLY RENAME"] ?? 0) >= 1)
        #expect(report.commandCounts["APPLY UNMAILBOX"] == 1, "the old Sent (another uniqueid)")
        #expect(try await pair.differences(users: ["alice"]) == [])
        #expect(try await pair.replica.store.mailbox(Self.folder("Archive")) == nil)
        let again = try await pair.sync(users: ["alice"])
        #expect(again.applyCount == 0, "\(again.commandCounts)")
    }

    /// A mailbox that exists only on the replica and was never deleted on the master (made on
    /// the replica, e.g. after a failover) is copied back whole with its identity, never
    /// deleted; one whose name the master uses for another mailbox is left and reported.
    @Test func aReplicaOnlyMailboxTheMasterNeverKnewIsCopiedBack() async throws {
        let pair = try SyncMasterPair()
        try await Self.populate(pair)
        _ = try await pair.sync(users: ["alice"])
        let made = Self.folder("MadeOnReplica")
        let replicaBox = try await pair.replica.store.createMailbox(made, acl: nil)
        let target = DeliveryTarget(mailbox: made, flags: FlagSet([.flagged]), internalDate: 1_700_000_900)
        for result in await pair.replica.store.deliver(
            try await Self.staged(pair.replica.store, Self.message(40)),
            to: [target]
        ) {
            _ = try result.get()
        }
        // Both sides made a "Twin" while apart: different mailboxes of one name.
        _ = try await pair.master.createMailbox(Self.folder("Twin"), acl: nil)
        let twin = try await pair.replica.store.createMailbox(Self.folder("Twin"), acl: nil)
        let twinTarget = DeliveryTarget(mailbox: Self.folder("Twin"), flags: FlagSet(), internalDate: 1)
        for result in await pair.replica.store.deliver(
            try await Self.staged(pair.replica.store, Self.message(41)),
            to: [twinTarget]
        ) {
            _ = try result.get()
        }
        let report = try await pair.sync(users: ["alice"])
        #expect(report.commandCounts["APPLY UNMAILBOX"] == nil, "\(report.commandCounts)")
        #expect(
            report.notes.contains { $0.contains("user.alice.MadeOnReplica") && $0.contains("copied back") },
            "\(report.notes)"
        )
        #expect(
            report.notes.contains { $0.contains("user.alice.Twin") && $0.contains("administrator") },
            "\(report.notes)"
        )
        #expect(report.failures.map(\.name) == ["alice"], "the Twin mailbox fails alice's run: \(report.failures)")
        let copied = try #require(try await pair.master.mailbox(made))
        #expect(copied.uniqueID == replicaBox.uniqueID && copied.uidValidity == replicaBox.uidValidity)
        let records = try await pair.master.records(in: made, includeExpunged: false)
        #expect(records.map(\.uid) == [UID(1)] && records.first?.flags.contains(.flagged) == true)
        #expect(try await pair.replica.store.mailbox(Self.folder("Twin"))?.uniqueID == twin.uniqueID, "kept")
        #expect(report.messagesCopiedBack == 1)
    }

    /// `-A`: users, the mailboxes outside any user, and the server annotations (set, changed,
    /// removed) all reach the replica.
    @Test func everythingModeCarriesSharedMailboxesAndServerAnnotations() async throws {
        let pair = try SyncMasterPair()
        try await Self.populate(pair)
        let shared = try MailboxName(internal: "shared.news")
        _ = try await pair.master.createMailbox(shared, acl: nil)
        try await pair.deliver(Self.message(9), to: [shared])
        try await pair.master.setServerAnnotation(
            Annotation(uid: nil, entry: "/comment", userID: "", value: Array("site".utf8))
        )
        try await pair.master.setServerAnnotation(
            Annotation(uid: nil, entry: "/motd", userID: "", value: Array("hello".utf8))
        )
        try await pair.replica.store.setServerAnnotation(
            Annotation(uid: nil, entry: "/stale", userID: "bob", value: Array("x".utf8))
        )
        let work = SyncClientWork.all(users: [try UserName("alice"), try UserName("bob")], sharedMailboxes: [shared])
        let report = try await pair.sync(work)
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.succeeded == ["alice", "bob", "shared.news", "server"])
        #expect(try await pair.replica.store.records(in: shared, includeExpunged: false).count == 1)
        let values = { (store: SQLiteMailStore) in
            try await store.serverAnnotations().map {
                "\($0.entry)/\($0.userID)=\(String(decoding: $0.value ?? [], as: UTF8.self))"
            }
        }
        #expect(try await values(pair.replica.store) == ["/comment/=site", "/motd/=hello"])
        try await pair.master.setServerAnnotation(Annotation(uid: nil, entry: "/motd", userID: "", value: nil))
        try await pair.master.setServerAnnotation(
            Annotation(uid: nil, entry: "/comment", userID: "", value: Array("site 2".utf8))
        )
        let second = try await pair.sync(work)
        #expect(second.commandCounts["APPLY ANNOTATION"] == 1 && second.commandCounts["APPLY UNANNOTATION"] == 1)
        #expect(try await values(pair.replica.store) == ["/comment/=site 2"])
        let third = try await pair.sync(work)
        #expect(third.applyCount == 0, "\(third.commandCounts)")
    }

    /// A user made independently on both sides: an empty replica INBOX of another uniqueid is
    /// replaced (as in Cyrus); a non-empty one is left alone, that user fails with the reason,
    /// and the rest of the run (other users, server annotations) goes on.
    @Test func aSameNamedMailboxOfAnotherUniqueIDFailsOnlyItsUser() async throws {
        let pair = try SyncMasterPair()
        try await Self.populate(pair)
        for name in ["carol", "dave"] {
            _ = try await pair.master.createUser(try UserName(name), passwordVerifier: "x", quota: QuotaLimits())
            _ = try await pair.replica.store.createUser(try UserName(name), passwordVerifier: "x", quota: QuotaLimits())
        }
        for (store, user, n) in [(pair.master, "carol", 7), (pair.replica.store, "dave", 8)] {
            let target = DeliveryTarget(mailbox: .inbox(of: try UserName(user)), flags: FlagSet(), internalDate: 1)
            for result in await store.deliver(try await Self.staged(store, Self.message(n)), to: [target]) {
                _ = try result.get()
            }
        }
        try await pair.master.setServerAnnotation(Annotation(uid: nil, entry: "/motd", userID: "", value: [0x41]))
        let users = ["alice", "carol", "dave"].map { try! UserName($0) }
        let report = try await pair.sync(.all(users: users, sharedMailboxes: []))
        #expect(report.succeeded == ["alice", "carol", "server"], "\(report.failures)")
        #expect(report.failures.map(\.name) == ["dave"])
        #expect(report.failures.first?.reason.contains("IMAP_MAILBOX_MOVED") == true, "\(report.failures)")
        let carol = try await pair.replica.store.mailbox(.inbox(of: try UserName("carol")))
        let ours = try await pair.master.mailbox(.inbox(of: try UserName("carol")))
        #expect(carol?.uniqueID == ours?.uniqueID && carol?.messageCount == 1, "the empty one was replaced")
        #expect(
            try await pair.replica.store.records(in: .inbox(of: try UserName("dave")), includeExpunged: false).count
                == 1
        )
        #expect(try await pair.replica.store.serverAnnotations().count == 1)
    }

    static func staged(_ store: SQLiteMailStore, _ text: String) async throws -> StagedMessage {
        let writer = try await store.beginMessage()
        try await writer.write(ByteBuffer(string: text))
        return try await writer.finish()
    }

    @Test func aRefusedLoginFailsEveryUserByName() async throws {
        let pair = try SyncMasterPair()
        try await Self.populate(pair)
        let report = try await pair.sync(.users([try UserName("alice"), try UserName("bob")]), password: "wrong")
        #expect(report.failures.map(\.name) == ["alice", "bob"])
        #expect(
            report.failures.allSatisfy { $0.reason.contains("authenticationFailed") && !$0.reason.contains("wrong") }
        )
        #expect(report.applyCount == 0)
    }

    @Test func aRenameChainIsOrderedSoNoTargetIsStillOccupied() async throws {
        let pair = try SyncMasterPair()
        try await Self.populate(pair)
        _ = try await pair.sync(users: ["alice"])
        // Archive → Old, then Sent → Archive: Sent's rename targets a name the other must
        // vacate first (sync-protocol §5.1 step 4.4).
        try await pair.master.renameMailbox(Self.folder("Archive"), to: Self.folder("Old"))
        try await pair.master.renameMailbox(Self.folder("Sent"), to: Self.folder("Archive"))
        let report = try await pair.sync(users: ["alice"])
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.commandCounts["APPLY UNMAILBOX"] == nil, "nothing deleted: both are renames")
        #expect(try await pair.differences(users: ["alice"]) == [])
        let again = try await pair.sync(users: ["alice"])
        #expect(again.applyCount == 0, "\(again.commandCounts)")
    }

    @Test func mailboxModeAndAChangedReplicaClimbTheLadder() async throws {
        let pair = try SyncMasterPair()
        try await Self.populate(pair)
        _ = try await pair.sync(users: ["alice"])
        // The replica's INBOX moves on by itself (a flag set there): the delta's SINCE_* no
        // longer holds, a plain update fails its checksum, and a full update follows.
        _ = try await pair.replica.store.storeFlags(.add(FlagSet([.draft])), uids: [UID(1)], in: Self.alice)
        _ = try await pair.master.storeFlags(.add(FlagSet([.flagged])), uids: [UID(4)], in: Self.alice)
        let report = try await pair.sync(.mailboxes([Self.alice]))
        #expect(report.commandCounts["GET MAILBOXES"] == 3, "the batch, the fresh state after NO, after the merge")
        #expect(report.commandCounts["GET FULLMAILBOX"] == 1, "the plain update fails too: a full update")
        // UID 1 is newer on the replica: its flags win on the master and travel back.
        #expect(report.failures.isEmpty && report.succeeded.count == 1, "\(report.failures)")
        #expect(report.notes.contains { $0.contains("UID 1") && $0.contains("replica") }, "\(report.notes)")
        let records = try await pair.master.records(in: Self.alice, includeExpunged: false)
        #expect(records.first { $0.uid == UID(1) }?.flags.contains(.draft) == true)
        #expect(records.first { $0.uid == UID(4) }?.flags.contains(.flagged) == true)
        #expect(try await pair.differences(users: ["alice"]) == [])
    }
}
