import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The replica side of csync against the real SQLite store: `APPLY MAILBOX` (sync-protocol.md
/// §3.4.3 steps 3-9, §5.6), `APPLY EXPUNGE` (§3.4.6) and the reads `GET` needs.
@Suite struct ReplicationStoreTests {
    // MARK: Fixtures

    static let alice = try! MailboxName(internal: "user.alice")
    static let ghost = MessageGUID(hex: "5e700f531dd4f657ffddb5ecdec9cb52a4464033")!
    static let m1Text = "Subject: one\r\n\r\nfirst body\r\n"
    static let m2Text = "Subject: two\r\n\r\nsecond body, a little longer\r\n"

    /// A store with two uploads staged but not yet used.
    struct Fixture {
        let t: TemporaryStore
        let m1: StagedMessage
        let m2: StagedMessage

        init(_ mode: StorageMode = .inline) async throws {
            t = try TemporaryStore(mode)
            m1 = try await ReplicationStoreTests.stage(t, ReplicationStoreTests.m1Text)
            m2 = try await ReplicationStoreTests.stage(t, ReplicationStoreTests.m2Text)
        }

        var uploads: [MessageGUID: StagedMessage] { [m1.guid: m1, m2.guid: m2] }

        /// The master's state used by most tests: live UID 1 and 4, expunged UID 2, LAST_UID 4.
        func base() -> ReplicaMailboxUpdate {
            ReplicaMailboxUpdate(
                mailbox: ReplicationStoreTests.header(),
                annotations: [
                    Annotation(
                        uid: nil,
                        entry: "/comment",
                        userID: "",
                        value: Array("shared note".utf8),
                        modSeq: ModSeq(0)
                    ),
                    Annotation(
                        uid: nil,
                        entry: "/comment",
                        userID: "alice",
                        value: Array("private note".utf8),
                        modSeq: ModSeq(3)
                    ),
                ],
                records: [
                    ReplicationStoreTests.record(
                        1,
                        10,
                        m1,
                        flags: ["\\Seen", "$Custom"],
                        saveDate: 1_795_435_160,
                        createdModSeq: 4,
                        annotations: [
                            Annotation(
                                uid: UID(1),
                                entry: "/comment",
                                userID: "",
                                value: Array("msg note".utf8),
                                modSeq: ModSeq(8)
                            )
                        ]
                    ),
                    ReplicaRecord(
                        uid: UID(2),
                        modSeq: ModSeq(11),
                        lastUpdated: 1_795_435_249,
                        internalDate: 1_795_435_143,
                        size: 161,
                        guid: ReplicationStoreTests.ghost,
                        flags: FlagSet([Flag("\\Deleted")!]),
                        isExpunged: true
                    ),
                    ReplicationStoreTests.record(
                        4,
                        12,
                        m2,
                        flags: ["\\Flagged", "\\Answered", "$Label1"],
                        createdModSeq: 12
                    ),
                ],
                expectedHighestModSeq: nil
            )
        }

        /// Applies ``base()``.
        func applyBase() async throws -> ReplicaMailboxState {
            try await t.store.applyReplicaMailbox(base(), messages: uploads)
        }

        func state(_ name: MailboxName = ReplicationStoreTests.alice) async throws -> ReplicaMailboxState? {
            try await t.store.replicaState(of: name, records: true)
        }

        func changeCount() async throws -> Int { try await t.store.changes(after: 0, limit: 100_000).count }
    }

    static func header(
        _ name: MailboxName = alice,
        uniqueID: String = "u5298fpmemrf8j6ekg2324b0",
        uidValidity: UInt32 = 1_795_435_144,
        lastUID: UInt32 = 4,
        highestModSeq: UInt64 = 12
    ) -> Mailbox {
        Mailbox(
            uniqueID: uniqueID,
            name: name,
            partition: "default",
            acl: ACL(cyrusString: "alice\tlrswipkxtecdan\tbob\tlr\t")!,
            uidValidity: UIDValidity(uidValidity),
            lastUID: lastUID,
            highestModSeq: ModSeq(highestModSeq),
            createdModSeq: ModSeq(1),
            folderModSeq: ModSeq(7),
            recentUID: 3,
            recentTime: 1_795_435_144,
            lastAppendDate: 1_795_435_150,
            pop3LastLogin: 1_795_435_100,
            pop3ShowAfter: 1_795_435_000,
            options: 5
        )
    }

    static func record(
        _ uid: UInt32,
        _ modSeq: UInt64,
        _ message: StagedMessage,
        flags: [String] = [],
        expunged: Bool = false,
        saveDate: UnixTime = 0,
        createdModSeq: UInt64 = 0,
        annotations: [Annotation] = []
    ) -> ReplicaRecord {
        ReplicaRecord(
            uid: UID(uid),
            modSeq: ModSeq(modSeq),
            lastUpdated: 1_795_435_200 + Double(modSeq),
            internalDate: 1_795_435_100 + Double(uid),
            saveDate: saveDate,
            createdModSeq: ModSeq(createdModSeq),
            size: message.size,
            guid: message.guid,
            flags: FlagSet(flags.compactMap { Flag($0) }),
            isExpunged: expunged,
            annotations: annotations
        )
    }

    static func stage(_ t: TemporaryStore, _ text: String) async throws -> StagedMessage {
        let writer = try await t.store.beginMessage()
        try await writer.write(ByteBuffer(string: text))
        return try await writer.finish()
    }

    static func expectCode(
        _ code: MailStoreError.Code,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            Issue.record("expected \(code), got success", sourceLocation: sourceLocation)
        } catch let error as MailStoreError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Create and read back

    @Test(arguments: StorageMode.allCases) func createFromScratchReadsBackEveryField(_ mode: StorageMode) async throws {
        let f = try await Fixture(mode)
        let update = f.base()
        let applied = try await f.applyBase()
        let state = try #require(try await f.state())
        var expected = update.mailbox
        expected.messageCount = 2
        expected.totalSize = f.m1.size + f.m2.size
        #expect(state.mailbox == expected)
        #expect(applied == ReplicaMailboxState(mailbox: expected, annotations: update.annotations, records: []))
        #expect(state.annotations == update.annotations)
        #expect(state.records == update.records)
        #expect(state.records[1].annotations.isEmpty && state.records[1].isExpunged)
        #expect(try await f.t.store.replicaState(uniqueID: update.mailbox.uniqueID, records: true) == state)
        #expect(try await f.t.store.replicaState(uniqueID: "nope", records: false) == nil)
        #expect(String(buffer: try await f.t.store.messageBytes(f.m1.guid)) == Self.m1Text)
        #expect(String(buffer: try await f.t.store.messageBytes(f.m2.guid)) == Self.m2Text)
        // IMAP's view of the same records.
        let live = try await f.t.store.records(in: Self.alice, includeExpunged: false)
        #expect(live.map(\.uid.rawValue) == [1, 4])
        let kinds = try await f.t.store.changes(after: 0, limit: 100).map(\.kind)
        #expect(kinds == [.mailboxCreate, .append])
        #expect(await f.t.store.check().isHealthy)
    }

    @Test func applyingTheSameUpdateTwiceChangesNothing() async throws {
        let f = try await Fixture()
        _ = try await f.applyBase()
        let before = try await f.state()
        let events = try await f.changeCount()
        var again = f.base()
        again.expectedHighestModSeq = ModSeq(12)
        _ = try await f.t.store.applyReplicaMailbox(again, messages: [:])
        #expect(try await f.state() == before)
        #expect(try await f.changeCount() == events)
        #expect(await f.t.store.check().isHealthy)
    }

    // MARK: Delta updates

    @Test(arguments: StorageMode.allCases) func deltaUpdatesFlagsModseqsAndExpunges(_ mode: StorageMode) async throws {
        let f = try await Fixture(mode)
        _ = try await f.applyBase()
        let base = try #require(try await f.state())
        var update = f.base()
        update.mailbox.highestModSeq = ModSeq(15)
        update.mailbox.lastUID = 5
        update.mailbox.folderModSeq = ModSeq(15)
        update.annotations = [update.annotations[1]]
        update.expectedHighestModSeq = ModSeq(12)
        let m3 = try await Self.stage(f.t, "Subject: three\r\n\r\n3\r\n")
        update.records = [
            Self.record(1, 13, f.m1, flags: ["\\Answered"], saveDate: 1_795_435_160, createdModSeq: 4),
            Self.record(4, 14, f.m2, flags: ["\\Flagged"], expunged: true, createdModSeq: 12),
            Self.record(5, 15, m3, flags: ["$New"], createdModSeq: 15),
        ]
        let result = try await f.t.store.applyReplicaMailbox(update, messages: [m3.guid: m3])
        #expect(result.mailbox.highestModSeq == ModSeq(15) && result.mailbox.lastUID == 5)
        let state = try #require(try await f.state())
        #expect(state.records.map(\.uid.rawValue) == [1, 2, 4, 5])
        #expect(state.records[0] == update.records[0])  // annotations replaced by the master's (none)
        #expect(state.records[1] == base.records[1])  // untouched: absent from the delta
        #expect(state.records[2] == update.records[1])
        #expect(state.records[3] == update.records[2])
        #expect(state.annotations == update.annotations)
        #expect(state.mailbox.messageCount == 2 && state.mailbox.totalSize == f.m1.size + m3.size)
        #expect(state.mailbox.folderModSeq == ModSeq(15))
        let kinds = try await f.t.store.changes(after: 0, limit: 100).map(\.kind)
        #expect(kinds == [.mailboxCreate, .append, .append, .flags, .expunge, .mailboxMeta])
        // An IMAP session catching up from modseq 12 sees exactly the delta.
        let (_, changed) = try #require(try await f.t.store.mailboxChanges(Self.alice, since: ModSeq(12)))
        #expect(changed.map(\.uid.rawValue) == [1, 4, 5])
        #expect(try await f.t.store.storedMessages([f.m2.guid, m3.guid]) == [m3.guid])
        #expect(await f.t.store.check().isHealthy)
    }

    // MARK: Refusals leave the store untouched

    /// One bad ingredient each, mixed into an otherwise valid update (a flag change on UID 1 and
    /// an append of UID 6 with uploaded bytes), so a partial write would show.
    enum Refusal: String, CaseIterable, Sendable, CustomStringConvertible {
        case guidDiffers, replicaNewer, liveButExpunged, unknownBelowLastUID, highestModSeqLower
        case uidValidityLower, lastUIDLower, bytesMissing, sizeMismatch, changedSince, unordered, typeDiffers
        var description: String { rawValue }
    }

    @Test(arguments: Refusal.allCases, StorageMode.allCases) func refusalsWriteNothing(
        _ refusal: Refusal,
        _ mode: StorageMode
    ) async throws {
        let f = try await Fixture(mode)
        _ = try await f.applyBase()
        let before = try await f.state()
        let events = try await f.changeCount()
        let m6 = try await Self.stage(f.t, "Subject: six\r\n\r\n" + String(repeating: "x", count: 200) + "\r\n")
        var update = f.base()
        update.mailbox.highestModSeq = ModSeq(20)
        update.mailbox.lastUID = 6
        update.expectedHighestModSeq = ModSeq(12)
        let flagChange = Self.record(1, 19, f.m1, flags: ["\\Answered"])
        let append = Self.record(6, 20, m6)
        var middle: [ReplicaRecord] = []
        let code: MailStoreError.Code
        switch refusal {
        case .guidDiffers:
            middle = [Self.record(4, 18, f.m1)]
            code = .syncChecksum
        case .replicaNewer:
            middle = [Self.record(4, 11, f.m2)]
            code = .syncChecksum
        case .liveButExpunged:
            var record = f.base().records[1]
            record.isExpunged = false
            record.modSeq = ModSeq(18)
            middle = [record]
            code = .syncChecksum
        case .unknownBelowLastUID:
            middle = [Self.record(3, 18, f.m2)]
            code = .syncChecksum
        case .highestModSeqLower:
            update.mailbox.highestModSeq = ModSeq(11)
            code = .syncChecksum
        case .uidValidityLower:
            update.mailbox.uidValidity = UIDValidity(1_795_435_143)
            code = .syncChecksum
        case .lastUIDLower:
            update.mailbox.lastUID = 3
            code = .syncChecksum
        case .bytesMissing:
            middle = [Self.record(5, 18, try await Self.stage(f.t, "never uploaded\r\n"))]
            code = .nonexistent
        case .sizeMismatch:
            var record = Self.record(5, 18, f.m2)
            record.size += 1
            middle = [record]
            code = .syncChecksum
        case .changedSince:
            update.expectedHighestModSeq = ModSeq(11)
            code = .syncChanged
        case .unordered:
            middle = [Self.record(4, 18, f.m2), Self.record(4, 18, f.m2)]
            code = .invalidArgument
        case .typeDiffers:
            update.mailbox.mailboxType = 1
            code = .invalidArgument
        }
        update.records = [flagChange] + middle + [append]
        await Self.expectCode(code) {
            _ = try await f.t.store.applyReplicaMailbox(update, messages: [m6.guid: m6, f.m2.guid: f.m2])
        }
        #expect(try await f.state() == before)
        #expect(try await f.changeCount() == events)
        #expect(try await f.t.store.storedMessages([m6.guid]).isEmpty)
        let report = await f.t.store.check()
        #expect(report.isHealthy, "\(report.problems)")
        // The same update without the bad ingredient goes through.
        if refusal != .changedSince {
            var good = update
            good.mailbox = f.base().mailbox
            good.mailbox.highestModSeq = ModSeq(20)
            good.mailbox.lastUID = 6
            good.records = [flagChange, append]
            _ = try await f.t.store.applyReplicaMailbox(good, messages: [m6.guid: m6])
            #expect(try await f.state()?.records.last == append)
            #expect(await f.t.store.check().isHealthy)
        }
    }

    @Test func ignoredRecordsAreNotWritten() async throws {
        let f = try await Fixture()
        _ = try await f.applyBase()
        var update = f.base()
        update.expectedHighestModSeq = ModSeq(12)
        update.mailbox.highestModSeq = ModSeq(13)
        var ghostAgain = update.records[1]
        ghostAgain.modSeq = ModSeq(13)
        ghostAgain.guid = f.m1.guid  // both expunged: ignored before the GUID is compared
        var below = Self.record(3, 13, f.m2, expunged: true)  // absent, ≤ LAST_UID, expunged: ignored
        below.size = 1
        update.records = [ghostAgain, below]
        _ = try await f.t.store.applyReplicaMailbox(update, messages: [:])
        let state = try #require(try await f.state())
        #expect(state.records.map(\.uid.rawValue) == [1, 2, 4])
        #expect(state.records[1].guid == Self.ghost && state.records[1].modSeq == ModSeq(11))
        #expect(state.mailbox.highestModSeq == ModSeq(13))
    }

    // MARK: Force, UIDVALIDITY and modseq floors

    @Test func forceAcceptsOlderHeadersButNeverLowersThem() async throws {
        let f = try await Fixture()
        _ = try await f.applyBase()
        var update = f.base()
        update.force = true
        update.mailbox.uidValidity = UIDValidity(1_795_435_000)
        update.mailbox.highestModSeq = ModSeq(9)
        update.mailbox.lastUID = 2
        update.records = [Self.record(4, 9, f.m2, flags: ["$Forced"])]  // replica newer: allowed by force
        _ = try await f.t.store.applyReplicaMailbox(update, messages: [:])
        let state = try #require(try await f.state())
        #expect(state.mailbox.uidValidity == UIDValidity(1_795_435_144))
        #expect(state.mailbox.highestModSeq == ModSeq(12))
        #expect(state.mailbox.lastUID == 4)
        #expect(state.records[2].modSeq == ModSeq(9) && state.records[2].flags.keywordString == "$Forced")
        // A higher UIDVALIDITY from the master is adopted.
        var higher = f.base()
        higher.mailbox.uidValidity = UIDValidity(1_795_500_000)
        higher.records = []
        _ = try await f.t.store.applyReplicaMailbox(higher, messages: [:])
        #expect(try await f.state()?.mailbox.uidValidity == UIDValidity(1_795_500_000))
        // Without force a lower one is refused.
        await Self.expectCode(.syncChecksum) { _ = try await f.t.store.applyReplicaMailbox(f.base(), messages: [:]) }
        #expect(await f.t.store.check().isHealthy)
    }

    // MARK: Identity: uniqueid and name

    @Test func uniqueIDUsedByAnotherNameIsMoved() async throws {
        let f = try await Fixture()
        _ = try await f.applyBase()
        let events = try await f.changeCount()
        let other = try MailboxName(internal: "user.alice.Archive")
        var update = f.base()
        update.mailbox.name = other
        await Self.expectCode(.mailboxMoved) {
            _ = try await f.t.store.applyReplicaMailbox(update, messages: f.uploads)
        }
        #expect(try await f.state(other) == nil)
        #expect(try await f.changeCount() == events)
    }

    @Test func sameNameWithMessagesAndAnotherUniqueIDIsMoved() async throws {
        let f = try await Fixture()
        _ = try await f.applyBase()
        let before = try await f.state()
        var update = f.base()
        update.mailbox.uniqueID = "another-uniqueid"
        await Self.expectCode(.mailboxMoved) {
            _ = try await f.t.store.applyReplicaMailbox(update, messages: f.uploads)
        }
        #expect(try await f.state() == before)
    }

    @Test func emptySameNameMailboxIsReplaced() async throws {
        let f = try await Fixture()
        _ = try await f.t.store.createUser(user("alice"), passwordVerifier: "v", quota: QuotaLimits(storageKiB: 1000))
        let local = try #require(try await f.t.store.mailbox(Self.alice))
        let applied = try await f.applyBase()
        #expect(applied.mailbox.uniqueID == f.base().mailbox.uniqueID)
        #expect(applied.mailbox.quotaRoot == "user.alice")
        // UIDVALIDITY never goes below a value the name already had (§5.5).
        #expect(applied.mailbox.uidValidity == max(local.uidValidity, f.base().mailbox.uidValidity))
        #expect(try await f.t.store.replicaState(uniqueID: local.uniqueID, records: false) == nil)
        let quota = try #require(try await f.t.store.quotaRoot("user.alice"))
        #expect(quota.messagesUsed == 2 && quota.storageUsedBytes == f.m1.size + f.m2.size)
        let kinds = try await f.t.store.changes(after: 0, limit: 100).map(\.kind)
        #expect(kinds.suffix(3) == [.mailboxDelete, .mailboxCreate, .append])
        #expect(await f.t.store.check().isHealthy)
    }

    @Test func absentMailboxMustStayAbsentWhenExpectedAtZero() async throws {
        let f = try await Fixture()
        _ = try await f.t.store.createUser(user("alice"), passwordVerifier: "v", quota: .unlimited)
        var update = f.base()
        update.mailbox.uniqueID = try #require(try await f.t.store.mailbox(Self.alice)).uniqueID
        update.expectedHighestModSeq = ModSeq(0)
        await Self.expectCode(.syncChanged) { _ = try await f.t.store.applyReplicaMailbox(update, messages: f.uploads) }
    }

    // MARK: Message bytes

    @Test(arguments: StorageMode.allCases) func oneUploadServesTwoMailboxesAndStaysStaged(
        _ mode: StorageMode
    ) async throws {
        let f = try await Fixture(mode)
        let big = try await Self.stage(f.t, "Subject: big\r\n\r\n" + String(repeating: "y", count: 100_000) + "\r\n")
        let sent = try MailboxName(internal: "user.alice.Sent")
        var first = f.base()
        first.records = [Self.record(1, 5, big)]
        var second = first
        second.mailbox = Self.header(sent, uniqueID: "sent-uniqueid")
        _ = try await f.t.store.applyReplicaMailbox(first, messages: [big.guid: big])
        _ = try await f.t.store.applyReplicaMailbox(second, messages: [big.guid: big])
        #expect(big.inlineBytes == nil && !big.token.isEmpty)
        #expect(access(big.token, F_OK) == 0, "the staging file is the caller's to discard")
        unlink(big.token)
        #expect(try await f.t.store.messageBytes(big.guid).readableBytes == Int(big.size))
        #expect(try await f.t.store.storedMessages([big.guid]) == [big.guid])
        #expect(try await f.state(sent)?.records.map(\.guid) == [big.guid])
        #expect(await f.t.store.check().isHealthy)
        // Both references are counted: expunging one keeps the bytes.
        try await f.t.store.expungeReplicaRecords(uids: [UID(1)], in: Self.alice, uniqueID: first.mailbox.uniqueID)
        #expect(try await f.t.store.storedMessages([big.guid]) == [big.guid])
        #expect(await f.t.store.check().isHealthy)
    }

    @Test func concurrentAppliesShareOneUpload() async throws {
        let f = try await Fixture(.files)
        let shared = try await Self.stage(f.t, "Subject: shared\r\n\r\nto everyone\r\n")
        let names = try (0..<8).map { try MailboxName(internal: "user.u\($0)") }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, name) in names.enumerated() {
                var update = f.base()
                update.mailbox = Self.header(name, uniqueID: "shared-\(index)")
                update.records = [Self.record(1, 5, shared)]
                group.addTask { _ = try await f.t.store.applyReplicaMailbox(update, messages: [shared.guid: shared]) }
            }
            try await group.waitForAll()
        }
        for name in names { #expect(try await f.state(name)?.mailbox.messageCount == 1) }
        #expect(access(shared.token, F_OK) == 0)
        #expect(await f.t.store.check().isHealthy)
    }

    @Test func refusedApplyLeavesOnlyCollectableFiles() async throws {
        let f = try await Fixture(.files)
        var update = f.base()
        update.records.append(Self.record(5, 13, try await Self.stage(f.t, "missing\r\n")))
        update.mailbox.lastUID = 5
        await Self.expectCode(.nonexistent) { _ = try await f.t.store.applyReplicaMailbox(update, messages: f.uploads) }
        let hex = f.m1.guid.hex
        let path = "\(f.t.spool)/\(hex.prefix(2))/\(hex.dropFirst(2).prefix(2))/\(hex)"
        #expect(access(path, F_OK) == 0, "placed by the file stage before the refusal")
        #expect(await f.t.store.check().isHealthy)
        #expect(try await f.t.store.collectGarbage() == 2)
        #expect(access(path, F_OK) != 0)
        #expect(access(f.m1.token, F_OK) == 0, "the staging file is the caller's")
        // The uploads still serve a corrected apply.
        _ = try await f.applyBase()
        #expect(String(buffer: try await f.t.store.messageBytes(f.m1.guid)) == Self.m1Text)
        #expect(await f.t.store.check().isHealthy)
    }

    @Test func replicaChangesAreNotifiedLikeLocalOnes() async throws {
        let f = try await Fixture()
        let stream = f.t.store.changeNotifications()
        _ = try await f.applyBase()
        var iterator = stream.makeAsyncIterator()
        var seen: [ChangeEvent] = []
        while seen.count < 2, let event = await iterator.next() { seen.append(event) }
        #expect(seen.map(\.kind) == [.mailboxCreate, .append])
        #expect(seen.allSatisfy { $0.mailbox == "user.alice" && $0.user == "alice" })
        #expect(seen.last?.modSeq == ModSeq(12))
    }

    @Test(arguments: StorageMode.allCases) func messagesAlreadyStoredAreReused(_ mode: StorageMode) async throws {
        let f = try await Fixture(mode)
        _ = try await f.t.store.createUser(user("bob"), passwordVerifier: "v", quota: .unlimited)
        let delivered = try await f.t.deliver(Self.m1Text, to: [.inbox(of: user("bob"))])
        _ = try delivered[0].get()
        var update = f.base()
        update.records = [update.records[0]]
        _ = try await f.t.store.applyReplicaMailbox(update, messages: [:])
        #expect(try await f.state()?.mailbox.messageCount == 1)
        #expect(String(buffer: try await f.t.store.messageBytes(f.m1.guid)) == Self.m1Text)
        #expect(await f.t.store.check().isHealthy)
    }

    @Test func missingBytesNameTheGUIDAndCreateNothing() async throws {
        let f = try await Fixture()
        let events = try await f.changeCount()
        do {
            _ = try await f.t.store.applyReplicaMailbox(f.base(), messages: [f.m1.guid: f.m1])
            Issue.record("expected nonexistent")
        } catch {
            #expect(error.code == .nonexistent)
            #expect(error.detail.contains(f.m2.guid.hex))
        }
        #expect(try await f.state() == nil)
        #expect(try await f.changeCount() == events)
        #expect(try await f.t.store.storedMessages([f.m1.guid, f.m2.guid]).isEmpty)
        #expect(await f.t.store.check().isHealthy)
    }

    // MARK: APPLY EXPUNGE

    @Test func expungeReplicaRecordsKeepsModseqs() async throws {
        let f = try await Fixture()
        _ = try await f.applyBase()
        let before = try #require(try await f.state())
        let uniqueID = before.mailbox.uniqueID
        await Self.expectCode(.mailboxMoved) {
            try await f.t.store.expungeReplicaRecords(uids: [UID(1)], in: Self.alice, uniqueID: "other")
        }
        try await f.t.store.expungeReplicaRecords(uids: [UID(1), UID(2), UID(99)], in: Self.alice, uniqueID: uniqueID)
        let after = try #require(try await f.state())
        #expect(after.records[0].isExpunged)
        #expect(after.records[0].modSeq == before.records[0].modSeq)
        #expect(after.records[0].lastUpdated == before.records[0].lastUpdated)
        #expect(after.records[1] == before.records[1])
        #expect(after.mailbox.highestModSeq == before.mailbox.highestModSeq)
        #expect(after.mailbox.messageCount == 1 && after.mailbox.totalSize == f.m2.size)
        await Self.expectCode(.nonexistent) {
            try await f.t.store.expungeReplicaRecords(
                uids: [UID(1)],
                in: .inbox(of: user("nobody")),
                uniqueID: uniqueID
            )
        }
        #expect(await f.t.store.check().isHealthy)
    }

    // MARK: Other reads and writes

    @Test func seenStatesListEveryMailboxOfTheUser() async throws {
        let f = try await Fixture()
        let a = SeenState(lastRead: 1, lastUID: 2, lastChange: 3, seenUIDs: "1:2")
        let b = SeenState(lastRead: 4, lastUID: 5, lastChange: 6, seenUIDs: "")
        try await f.t.store.setSeenState(a, of: user("bob"), mailboxUniqueID: "mailbox-a")
        try await f.t.store.setSeenState(b, of: user("bob"), mailboxUniqueID: "mailbox-b")
        try await f.t.store.setSeenState(a, of: user("carol"), mailboxUniqueID: "mailbox-c")
        #expect(try await f.t.store.seenStates(of: user("bob")) == ["mailbox-a": a, "mailbox-b": b])
        #expect(try await f.t.store.seenStates(of: user("dave")).isEmpty)
    }

    @Test func deleteQuotaRootFallsBackToTheEnclosingRoot() async throws {
        let f = try await Fixture()
        let carol = user("carol")
        _ = try await f.t.store.createUser(carol, passwordVerifier: "v", quota: QuotaLimits(storageKiB: 1000))
        let work = try MailboxName(internal: "user.carol.Work")
        _ = try await f.t.store.createMailbox(work, acl: nil)
        try await f.t.store.setQuota("user.carol.Work", limits: QuotaLimits(messages: 5))
        _ = try await f.t.deliver(Self.m1Text, to: [work, .inbox(of: carol)])
        #expect(try await f.t.store.quotaRoot("user.carol")?.messagesUsed == 1)
        try await f.t.store.deleteQuotaRoot("user.carol.Work")
        #expect(try await f.t.store.quotaRoot("user.carol.Work") == nil)
        #expect(try await f.t.store.mailbox(work)?.quotaRoot == "user.carol")
        #expect(try await f.t.store.quotaRoot("user.carol")?.messagesUsed == 2)
        try await f.t.store.deleteQuotaRoot("user.carol")
        #expect(try await f.t.store.mailbox(.inbox(of: carol))?.quotaRoot == nil)
        #expect(try await f.t.store.mailbox(work)?.quotaRoot == nil)
        try await f.t.store.deleteQuotaRoot("user.carol")  // idempotent
        #expect(try await f.t.store.changes(after: 0, limit: 100).filter { $0.kind == .quota }.count == 3)
        #expect(await f.t.store.check().isHealthy)
    }
}
