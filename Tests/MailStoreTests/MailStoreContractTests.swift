import GRDB
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The store contract: what every `MailStore` implementation must do. Runs on SQLite (the only
/// implementation so far) with real files in a temporary directory.
@Suite struct MailStoreContractTests {
    @Test(arguments: StorageMode.allCases) func createUserMakesInboxWithQuotaRoot(_ mode: StorageMode) async throws {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(
            user("alice"),
            passwordVerifier: "v",
            quota: QuotaLimits(storageKiB: 100, messages: 10)
        )
        let inbox = try #require(try await t.store.mailbox(MailboxName.inbox(of: user("alice"))))
        #expect(inbox.quotaRoot == "user.alice")
        #expect(inbox.acl.rights(for: "alice") == .all)
        #expect(inbox.lastUID == 0)
        let quota = try #require(try await t.store.quotaRoot("user.alice"))
        #expect(quota.storageLimitKiB == 100 && quota.messageLimit == 10)
        await #expect(throws: MailStoreError.self) {
            _ = try await t.store.createUser(user("alice"), passwordVerifier: "v", quota: .unlimited)
        }
    }

    @Test(arguments: StorageMode.allCases) func deliveryAssignsGrowingUIDsAndModseqsAndStoresExactBytes(
        _ mode: StorageMode
    ) async throws {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(user("bob"), passwordVerifier: "v", quota: .unlimited)
        let inbox = MailboxName.inbox(of: user("bob"))
        var uids: [UInt32] = []
        var modseqs: [UInt64] = []
        for i in 0..<5 {
            let result = try await t.deliver("Subject: \(i)\r\n\r\nbody \(i)\r\n", to: [inbox])
            let appended = try result[0].get()
            uids.append(appended.uid.rawValue)
            modseqs.append(appended.modSeq.rawValue)
        }
        #expect(uids == [1, 2, 3, 4, 5])
        #expect(modseqs == modseqs.sorted() && Set(modseqs).count == 5)
        let records = try await t.store.records(in: inbox, includeExpunged: false)
        #expect(records.count == 5)
        let bytes = try await t.store.messageBytes(records[2].guid)
        #expect(String(buffer: bytes) == "Subject: 2\r\n\r\nbody 2\r\n")
        let box = try #require(try await t.store.mailbox(inbox))
        #expect(box.messageCount == 5 && box.lastUID == 5 && box.highestModSeq.rawValue == modseqs.last)
    }

    @Test(arguments: StorageMode.allCases) func concurrentDeliveriesGetUniqueUIDsAndShareBatches(
        _ mode: StorageMode
    ) async throws {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(user("carol"), passwordVerifier: "v", quota: .unlimited)
        let inbox = MailboxName.inbox(of: user("carol"))
        let uids = try await withThrowingTaskGroup(of: UInt32.self) { group in
            for i in 0..<200 {
                group.addTask {
                    try await t.deliver("Message-ID: <\(i)@x>\r\n\r\n\(i)\r\n", to: [inbox])[0].get().uid.rawValue
                }
            }
            return try await group.reduce(into: [UInt32]()) { $0.append($1) }
        }
        #expect(uids.sorted() == Array(1...200))
        #expect(await t.store.check().isHealthy)
    }

    @Test(arguments: StorageMode.allCases) func oneMessageToManyMailboxesIsStoredOnce(_ mode: StorageMode) async throws
    {
        let t = try TemporaryStore(mode)
        for name in ["d1", "d2", "d3"] {
            _ = try await t.store.createUser(user(name), passwordVerifier: "v", quota: .unlimited)
        }
        let targets = ["d1", "d2", "d3"].map { MailboxName.inbox(of: user($0)) }
        let results = try await t.deliver("shared\r\n", to: targets + [try MailboxName(internal: "user.nobody")])
        #expect(results.prefix(3).allSatisfy { (try? $0.get()) != nil })
        guard case .failure(let error) = results[3] else {
            Issue.record("delivery to a missing mailbox succeeded")
            return
        }
        #expect(error.code == .nonexistent)
        let report = await t.store.check()
        #expect(report.isHealthy)
        #expect(report.blobsChecked == 1)
    }

    @Test(arguments: StorageMode.allCases) func quotaIsEnforcedPerTargetAndUsageTracked(
        _ mode: StorageMode
    ) async throws {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(
            user("q"),
            passwordVerifier: "v",
            quota: QuotaLimits(storageKiB: 1, messages: nil)
        )
        let inbox = MailboxName.inbox(of: user("q"))
        let small = String(repeating: "a", count: 600)
        #expect((try? await t.deliver(small, to: [inbox])[0].get()) != nil)
        let second = try await t.deliver(small + "b", to: [inbox])
        guard case .failure(let error) = second[0] else {
            Issue.record("over-quota delivery was accepted")
            return
        }
        #expect(error.code == .overQuota)
        let quota = try #require(try await t.store.quotaRoot("user.q"))
        #expect(quota.storageUsedBytes == 600 && quota.messagesUsed == 1)
        #expect(await t.store.check().isHealthy)
    }

    @Test(arguments: StorageMode.allCases) func flagsExpungeAndTombstones(_ mode: StorageMode) async throws {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(user("f"), passwordVerifier: "v", quota: QuotaLimits(storageKiB: 100))
        let inbox = MailboxName.inbox(of: user("f"))
        for i in 0..<3 { _ = try await t.deliver("m\(i)\r\n", to: [inbox]) }
        let changed = try await t.store.storeFlags(
            .add(FlagSet([.seen, Flag("$Label1")!])),
            uids: [UID(1), UID(2)],
            in: inbox
        )
        #expect(changed.count == 2)
        let again = try await t.store.storeFlags(.add(FlagSet([.seen])), uids: [UID(1)], in: inbox)
        #expect(again.isEmpty, "a no-op STORE must not bump modseq")
        let expunged = try await t.store.expunge(uids: [UID(2), UID(99)], in: inbox)
        #expect(expunged == [UID(2)])
        let live = try await t.store.records(in: inbox, includeExpunged: false)
        let all = try await t.store.records(in: inbox, includeExpunged: true)
        #expect(live.map(\.uid.rawValue) == [1, 3])
        #expect(all.first { $0.uid == UID(2) }?.isExpunged == true)
        #expect(live[0].flags.contains(.seen) && live[0].flags.contains(Flag("$label1")!))
        let box = try #require(try await t.store.mailbox(inbox))
        #expect(all.allSatisfy { $0.modSeq <= box.highestModSeq })
        let quota = try #require(try await t.store.quotaRoot("user.f"))
        #expect(quota.messagesUsed == 2)
        #expect(await t.store.check().isHealthy)
    }

    @Test(arguments: StorageMode.allCases) func deletingUserReleasesFilesForGarbageCollection(
        _ mode: StorageMode
    ) async throws {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(user("gone"), passwordVerifier: "v", quota: .unlimited)
        _ = try await t.store.createUser(user("stay"), passwordVerifier: "v", quota: .unlimited)
        let gone = MailboxName.inbox(of: user("gone"))
        let stay = MailboxName.inbox(of: user("stay"))
        _ = try await t.store.createMailbox(try gone.child("Sub"), acl: nil)
        _ = try await t.deliver("only gone\r\n", to: [gone])
        _ = try await t.deliver("both\r\n", to: [gone, stay])
        try await t.store.deleteUser(user("gone"))
        #expect(try await t.store.mailboxes(under: gone).isEmpty)
        #expect(try await t.store.user(user("gone")) == nil)
        #expect(try await t.store.collectGarbage() == 1)
        let report = await t.store.check()
        #expect(report.isHealthy)
        #expect(report.blobsChecked == 1)
        #expect(report.notes.isEmpty)
    }

    @Test(arguments: StorageMode.allCases) func mailboxHierarchyRulesAndUIDValidity(_ mode: StorageMode) async throws {
        let t = try TemporaryStore(mode)
        await #expect(throws: MailStoreError.self) {
            _ = try await t.store.createMailbox(try MailboxName(internal: "user.ghost.Sent"), acl: nil)
        }
        _ = try await t.store.createUser(user("h"), passwordVerifier: "v", quota: .unlimited)
        let sent = try MailboxName.inbox(of: user("h")).child("Sent")
        let first = try await t.store.createMailbox(sent, acl: nil)
        try await t.store.deleteMailbox(sent)
        let second = try await t.store.createMailbox(sent, acl: nil)
        #expect(second.uidValidity > first.uidValidity, "a re-created name must get a new UIDVALIDITY")
        #expect(second.uniqueID != first.uniqueID)
        #expect(second.quotaRoot == "user.h")
    }

    @Test(arguments: StorageMode.allCases) func subscriptionsSeenAndAnnotations(_ mode: StorageMode) async throws {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(user("s"), passwordVerifier: "v", quota: .unlimited)
        let inbox = MailboxName.inbox(of: user("s"))
        try await t.store.subscribe(user("s"), to: inbox)
        try await t.store.subscribe(user("s"), to: inbox)
        #expect(try await t.store.subscriptions(of: user("s")) == [inbox])
        try await t.store.unsubscribe(user("s"), from: inbox)
        #expect(try await t.store.subscriptions(of: user("s")).isEmpty)
        let box = try #require(try await t.store.mailbox(inbox))
        let seen = SeenState(lastRead: 10, lastUID: 5, lastChange: 11, seenUIDs: "1:3,5")
        try await t.store.setSeenState(seen, of: user("other"), mailboxUniqueID: box.uniqueID)
        #expect(try await t.store.seenState(of: user("other"), mailboxUniqueID: box.uniqueID) == seen)
        try await t.store.setAnnotation(
            Annotation(uid: nil, entry: "/comment", userID: "", value: Array("hi".utf8)),
            in: inbox
        )
        var annotations = try await t.store.annotations(in: inbox)
        #expect(annotations.count == 1 && annotations[0].value == Array("hi".utf8))
        try await t.store.setAnnotation(Annotation(uid: nil, entry: "/comment", userID: "", value: nil), in: inbox)
        annotations = try await t.store.annotations(in: inbox)
        #expect(annotations.isEmpty)
    }

    @Test(arguments: StorageMode.allCases) func changeFeedIsOrderedDurableAndPushed(_ mode: StorageMode) async throws {
        let t = try TemporaryStore(mode)
        let stream = t.store.changeNotifications()
        _ = try await t.store.createUser(user("c"), passwordVerifier: "v", quota: .unlimited)
        let inbox = MailboxName.inbox(of: user("c"))
        _ = try await t.deliver("x\r\n", to: [inbox])
        let feed = try await t.store.changes(after: 0, limit: 100)
        #expect(feed.map(\.kind) == [.mailboxCreate, .userCreate, .append])
        #expect(feed.map(\.sequence) == feed.map(\.sequence).sorted())
        var pushed: [ChangeEvent] = []
        for await event in stream {
            pushed.append(event)
            if pushed.count == feed.count { break }
        }
        #expect(pushed == feed)
    }
}

/// `corvid check` and `corvid reconstruct` against deliberately damaged stores.
@Suite struct StoreCheckTests {
    func storeWithMail(_ mode: StorageMode = .files) async throws -> (TemporaryStore, MessageRecord) {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(user("k"), passwordVerifier: "v", quota: .unlimited)
        let inbox = MailboxName.inbox(of: user("k"))
        _ = try await t.deliver("first\r\n", to: [inbox])
        _ = try await t.deliver("second\r\n", to: [inbox])
        let record = try await t.store.records(in: inbox, includeExpunged: false)[0]
        return (t, record)
    }

    func path(_ t: TemporaryStore, _ guid: MessageGUID) -> String {
        let hex = guid.hex
        return "\(t.spool)/\(hex.prefix(2))/\(hex.dropFirst(2).prefix(2))/\(hex)"
    }

    @Test func detectsCorruptAndMissingFiles() async throws {
        let (t, record) = try await storeWithMail()
        #expect(await t.store.check().isHealthy)
        let file = fopen(path(t, record.guid), "w")!
        fputs("tampered\r\n", file)
        fclose(file)
        var report = await t.store.check()
        #expect(report.problems.map(\.kind) == [.blobCorrupt])
        unlink(path(t, record.guid))
        report = await t.store.check()
        #expect(report.problems.map(\.kind) == [.blobMissing])
    }

    @Test func reconstructDropsRecordsOfLostMessagesAndIsThenHealthy() async throws {
        let (t, record) = try await storeWithMail()
        unlink(path(t, record.guid))
        let actions = try await t.store.reconstruct()
        #expect(actions.contains { $0.contains("UID 1") })
        let report = await t.store.check()
        #expect(report.isHealthy, "\(report.problems)")
        let inbox = MailboxName.inbox(of: user("k"))
        let box = try #require(try await t.store.mailbox(inbox))
        #expect(box.messageCount == 1 && box.lastUID == 2, "last_uid never goes down")
    }

    @Test func reconstructRemovesFilesNoRowNames() async throws {
        let (t, _) = try await storeWithMail()
        let stray = "\(t.spool)/00/00/" + String(repeating: "0", count: 40)
        _ = system("mkdir -p '\(t.spool)/00/00' && printf x > '\(stray)'")
        #expect(await t.store.check().notes.count == 1)
        _ = try await t.store.reconstruct()
        #expect(access(stray, F_OK) != 0)
        #expect(await t.store.check().notes.isEmpty)
    }

    @Test func detectsAndRepairsCorruptInlineMessages() async throws {
        let (t, record) = try await storeWithMail(.inline)
        let report = await t.store.check()
        #expect(report.isHealthy && report.blobsChecked == 2)
        #expect(FileOps.count(t.spool) == 0, "small messages make no files")
        // Tamper with the row's bytes behind the store's back.
        let outside = try DatabaseQueue(path: t.directory + "/conf/corvid.db")
        try await outside.write { db in
            try db.execute(sql: "UPDATE blobs SET data = X'00' WHERE guid = ?", arguments: [record.guid.hex])
        }
        #expect(await t.store.check().problems.map(\.kind) == [.blobCorrupt])
        let actions = try await t.store.reconstruct()
        #expect(actions.contains { $0.contains("UID 1") })
        #expect(await t.store.check().isHealthy)
    }
}

/// Small helpers over the file system for assertions.
enum FileOps {
    /// Regular files below `path` (message files), excluding the staging area.
    static func count(_ path: String) -> Int {
        let pipe = popen("find '\(path)' -type f -not -path '*/stage/*' | wc -l", "r")!
        defer { pclose(pipe) }
        var buffer = [CChar](repeating: 0, count: 64)
        fgets(&buffer, 64, pipe)
        let digits = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }.filter { $0 >= 48 && $0 <= 57 }
        return Int(String(decoding: digits, as: UTF8.self)) ?? -1
    }
}
