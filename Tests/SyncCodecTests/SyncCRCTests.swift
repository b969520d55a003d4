import MailCore
import SyncCodec
import Testing

/// SYNC_CRC and SYNC_CRC_ANNOT bit for bit against sync-protocol §4.3 and the captures.
@Suite struct SyncCRCTests {
    static func guid(_ hex: String) -> MessageGUID { MessageGUID(hex: hex)! }

    /// The mailbox `user.alice` of §4.3 after the initial sync.
    static let alice: [SyncCRC.Record] = [
        SyncCRC.Record(
            uid: 1,
            modseq: 5,
            lastUpdated: 1_795_435_144,
            systemFlags: [.seen],
            userFlags: ["$Custom"],
            internalDate: 1_795_435_143,
            guid: guid("5e700f531dd4f657ffddb5ecdec9cb52a4464033"),
            saveDate: 1_795_435_143,
            createdModseq: 2
        ),
        SyncCRC.Record(
            uid: 2,
            modseq: 6,
            lastUpdated: 1_795_435_144,
            systemFlags: [.flagged],
            internalDate: 1_795_435_143,
            guid: guid("0a1e104b2d6d517dc6e0cf24a1ed3aa7bbebfc05"),
            saveDate: 1_795_435_144,
            createdModseq: 3
        ),
        SyncCRC.Record(
            uid: 3,
            modseq: 9,
            lastUpdated: 1_795_435_151,
            internalDate: 1_795_435_144,
            guid: guid("b13789dcde0c0a0e226518309a6fb1a953be3c9f"),
            saveDate: 1_795_435_144,
            createdModseq: 4,
            annotations: [SyncCRC.Annotation(entry: "/comment", userID: "", value: Array("msg note".utf8))]
        ),
    ]

    @Test func crc32IsTheZlibVariant() {
        #expect(SyncCRC.crc32("123456789".utf8) == 0xCBF4_3926)
        #expect(SyncCRC.crc32("\\seen".utf8) == 3_201_761_491)
        #expect(SyncCRC.crc32("$custom".utf8) == 3_805_836_745)
    }

    @Test func workedExampleRecordOne() {
        #expect(SyncCRC.flagCRC(Self.alice[0]) == 1_544_516_890)
        #expect(SyncCRC.basic(Self.alice[0]) == 1_457_094_464)
    }

    @Test func workedExampleMailbox() {
        #expect(SyncCRC.basic(of: Self.alice) == 2_501_713_581)
        #expect(SyncCRC.annotations(of: Self.alice) == 2_636_566_164)
    }

    @Test func emptyMailboxAndExpungedRecords() {
        #expect(SyncCRC.basic(of: []) == 0)
        #expect(SyncCRC.annotations(of: []) == 12_345_678)
        var expunged = Self.alice
        for index in expunged.indices { expunged[index].systemFlags.insert(.expunged) }
        #expect(SyncCRC.basic(of: expunged) == 0)
        #expect(SyncCRC.annotations(of: expunged) == SyncCRC.annotationInitialValue)
    }

    @Test func orderAndCaseDoNotMatter() {
        var shuffled = Self.alice.reversed().map { $0 }
        shuffled[2].userFlags = ["$CUSTOM"]
        #expect(SyncCRC.basic(of: shuffled) == 2_501_713_581)
        // \Expunged never enters flagcrc, and a repeated keyword counts once.
        var record = Self.alice[0]
        record.userFlags = ["$custom", "$Custom"]
        #expect(SyncCRC.flagCRC(record) == 1_544_516_890)
    }

    @Test func virtualAnnotationsDependOnTheIndexVersion() {
        let record = Self.alice[1]
        #expect(SyncCRC.annotations(record, indexVersion: 14) == 0)
        #expect(SyncCRC.annotations(record, indexVersion: 17) != 0)
        var threaded = record
        threaded.threadID = 0x00ab
        #expect(
            SyncCRC.annotations(threaded) == SyncCRC.annotations(record)
                ^ SyncCRC.annotationCRC(
                    uid: 2,
                    entry: "/vendor/cmu/cyrus-imapd/thrid",
                    userID: "",
                    value: Array("ab".utf8)
                )
        )
    }

    @Test func matchingTreatsZeroAsUnknown() {
        #expect(SyncCRC.matches(0, 5))
        #expect(SyncCRC.matches(5, 0))
        #expect(SyncCRC.matches(5, 5))
        #expect(!SyncCRC.matches(5, 6))
    }

    /// Every captured APPLY MAILBOX that carries all of a mailbox's records (a first sync)
    /// states the CRCs of exactly those records: read them off the wire and recompute.
    @Test(arguments: ["10.1 First sync of a user", "PART 1: one-shot user replication"])
    func capturedFirstSyncCRCs(_ title: String) throws {
        let client = SyncFixtureTests.all.filter { $0.name.contains(title) }.flatMap(\.client)
        var checked = 0
        for case .apply(let item) in SyncTestSupport.commands(SyncTestSupport.decode(client, role: .replica))
        where item.key == "MAILBOX" && item.value["SINCE_MODSEQ"] == nil {
            let records = try (item.value.list(for: "RECORD") ?? []).map { try #require(SyncCRC.Record($0)) }
            #expect(item.value.number32(for: "SYNC_CRC") == SyncCRC.basic(of: records))
            #expect(item.value.number32(for: "SYNC_CRC_ANNOT") == SyncCRC.annotations(of: records))
            checked += 1
        }
        #expect(checked == (title.hasPrefix("10.1") ? 4 : 1))
    }

    /// §10.8: a hand-computed SYNC_CRC that the real replica accepted.
    @Test func handWrittenClientCRC() {
        let record = SyncCRC.Record(
            uid: 1,
            modseq: 5,
            lastUpdated: 1_700_000_100,
            userFlags: ["$Important"],
            internalDate: 1_700_000_000,
            guid: Self.guid("cc5f1b324ec96267f83e45bf953da37607161010")
        )
        var withSeen = record
        withSeen.systemFlags = [.seen]
        #expect(SyncCRC.basic(of: [withSeen]) == 3_307_092_642)
        #expect(SyncCRC.annotations(of: [withSeen]) == 12_345_678)
        withSeen.modseq = 6
        #expect(SyncCRC.basic(of: [withSeen]) == 2_359_881_633)
    }
}
