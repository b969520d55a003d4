import GRDB
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Testing

/// `corvid check` and `corvid reconstruct` on the header cache, with rows damaged behind the
/// store's back.
@Suite struct HeaderCacheCheckTests {
    let inbox = MailboxName.inbox(of: user("hc"))

    /// A store holding two small messages, both with cached headers.
    func storeWithMail(_ mode: StorageMode) async throws -> (TemporaryStore, [MessageRecord]) {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(user("hc"), passwordVerifier: "v", quota: .unlimited)
        _ = try await t.deliver("Subject: one\r\nFrom: a@b\r\n\r\nfirst\r\n", to: [inbox])
        _ = try await t.deliver("Subject: two\r\n\r\nsecond\r\n", to: [inbox])
        return (t, try await t.store.records(in: inbox, includeExpunged: false))
    }

    /// The store's database, opened beside the store as another process would.
    func database(_ t: TemporaryStore) throws -> DatabaseQueue {
        try DatabaseQueue(path: t.directory + "/conf/corvid.db")
    }

    func cachedHeaderCount(_ t: TemporaryStore) async throws -> Int {
        try await database(t).read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM headers")! }
    }

    /// Stages `text` `chunk` bytes per write, so an empty line can straddle two writes.
    func deliver(_ t: TemporaryStore, _ text: String, chunk: Int) async throws {
        let writer = try await t.store.beginMessage()
        let bytes = Array(text.utf8)
        for start in stride(from: 0, to: bytes.count, by: chunk) {
            try await writer.write(ByteBuffer(bytes: bytes[start..<min(start + chunk, bytes.count)]))
        }
        let staged = try await writer.finish()
        let results = await t.store.deliver(staged, to: [DeliveryTarget(mailbox: inbox, internalDate: 1_700_000_000)])
        _ = try results[0].get()
    }

    @Test(arguments: StorageMode.allCases) func aHealthyStoreChecksEveryCachedHeader(_ mode: StorageMode) async throws {
        let (t, _) = try await storeWithMail(mode)
        // Every shape the staging rule handles: check must derive the same header from the bytes.
        _ = try await t.deliver("Subject: bare line feeds\n\nbody\n", to: [inbox])
        _ = try await t.deliver("Subject: no body at all\r\n", to: [inbox])
        try await deliver(t, "Subject: split\r\nX-A: b\r\n\r\nbody split across writes\r\n", chunk: 1)
        try await deliver(t, "Subject: split\nX-A: b\n\nand with line feeds\n", chunk: 3)
        let long = String(repeating: "X-Long: \(String(repeating: "y", count: 990))\r\n", count: 80)
        _ = try await t.deliver(long + "\r\nnot cached\r\n", to: [inbox])
        let cached = try await cachedHeaderCount(t)
        #expect(cached == 6, "every message but the one with the overlong header")
        for verifyContent in [true, false] {
            let report = await t.store.check(verifyContent: verifyContent)
            #expect(report.isHealthy, "\(report.problems)")
            #expect(report.headersChecked == cached)
        }
    }

    @Test(arguments: StorageMode.allCases) func aWrongHeaderRowIsReportedAndRewritten(_ mode: StorageMode) async throws
    {
        let (t, records) = try await storeWithMail(mode)
        let guid = records[0].guid
        try await database(t).write { db in
            try db.execute(
                sql: "UPDATE headers SET data = CAST(? AS BLOB) WHERE guid = ?",
                arguments: ["Subject: forged\r\n\r\n", guid.hex]
            )
        }
        let report = await t.store.check()
        #expect(report.problems.map(\.kind) == [.headerCache])
        #expect(report.problems.first?.subject == guid.hex)
        #expect(report.problems.first?.detail == "cached 19 bytes, message header 27 bytes")
        #expect(report.headersChecked == 2)
        let actions = try await t.store.reconstruct()
        #expect(actions.count == 1)
        #expect(actions.first?.hasPrefix("rewrote cached header of \(guid.hex)") == true)
        #expect(await t.store.check().isHealthy)
        let headers = try await t.store.messageHeaders([guid])
        #expect(headers[guid].map { String(buffer: $0) } == "Subject: one\r\nFrom: a@b\r\n\r\n")
    }

    @Test(arguments: StorageMode.allCases) func anOrphanHeaderRowIsReportedAndRemoved(_ mode: StorageMode) async throws
    {
        let (t, _) = try await storeWithMail(mode)
        let orphan = String(repeating: "ab", count: 20)
        try await database(t).write { db in
            try db.execute(
                sql: "INSERT INTO headers(guid, data) VALUES (?, CAST(? AS BLOB))",
                arguments: [orphan, "Subject: gone\r\n\r\n"]
            )
        }
        let report = await t.store.check()
        #expect(report.problems.map(\.kind) == [.headerCache])
        #expect(report.problems.first?.subject == orphan)
        #expect(report.headersChecked == 3)
        let actions = try await t.store.reconstruct()
        #expect(actions == ["removed cached header of \(orphan): no stored message has that GUID"])
        let after = await t.store.check()
        #expect(after.isHealthy, "\(after.problems)")
        #expect(after.headersChecked == 2)
    }

    @Test func aCachedRowForAnOverlongHeaderIsReportedAndRemoved() async throws {
        let (t, _) = try await storeWithMail(.files)
        let long = String(repeating: "X-Long: \(String(repeating: "y", count: 990))\r\n", count: 80)
        _ = try await t.deliver(long + "\r\nbody\r\n", to: [inbox])
        let guid = try await t.store.records(in: inbox, includeExpunged: false)[2].guid
        try await database(t).write { db in
            try db.execute(
                sql: "INSERT INTO headers(guid, data) VALUES (?, CAST(? AS BLOB))",
                arguments: [guid.hex, "X-Long: y\r\n\r\n"]
            )
        }
        let report = await t.store.check()
        #expect(report.problems.map(\.kind) == [.headerCache])
        #expect(report.problems.first?.detail.contains("over the 65536-byte cache limit") == true)
        let actions = try await t.store.reconstruct()
        #expect(actions.count == 1 && actions.first?.hasPrefix("removed cached header of \(guid.hex)") == true)
        #expect(try await cachedHeaderCount(t) == 2)
        #expect(await t.store.check().isHealthy)
    }

    @Test(arguments: StorageMode.allCases) func aFastCheckFindsOrphansWithoutComparingContent(
        _ mode: StorageMode
    ) async throws {
        let (t, records) = try await storeWithMail(mode)
        let orphan = String(repeating: "cd", count: 20)
        try await database(t).write { db in
            try db.execute(
                sql: "UPDATE headers SET data = CAST(? AS BLOB) WHERE guid = ?",
                arguments: ["Subject: forged\r\n\r\n", records[1].guid.hex]
            )
            try db.execute(
                sql: "INSERT INTO headers(guid, data) VALUES (?, CAST(? AS BLOB))",
                arguments: [orphan, "Subject: gone\r\n\r\n"]
            )
        }
        // The forged row can only be seen by reading its message, which --fast does not do.
        let fast = await t.store.check(verifyContent: false)
        #expect(fast.problems.map(\.subject) == [orphan])
        #expect(fast.headersChecked == 3)
        let full = await t.store.check(verifyContent: true)
        #expect(Set(full.problems.map(\.subject)) == [orphan, records[1].guid.hex])
        #expect(full.problems.allSatisfy { $0.kind == .headerCache })
    }

    @Test func aCorruptMessageIsReportedOnceAndItsHeaderGoesWithIt() async throws {
        let (t, records) = try await storeWithMail(.inline)
        try await database(t).write { db in
            try db.execute(
                sql: "UPDATE blobs SET data = CAST(? AS BLOB) WHERE guid = ?",
                arguments: ["Subject: other\r\n\r\nfirst\r\n", records[0].guid.hex]
            )
        }
        // The header no longer matches the bytes, but the bytes are what is wrong.
        #expect(await t.store.check().problems.map(\.kind) == [.blobCorrupt])
        let actions = try await t.store.reconstruct()
        #expect(actions.contains("removed cached header of \(records[0].guid.hex): no stored message has that GUID"))
        let report = await t.store.check()
        #expect(report.isHealthy, "\(report.problems)")
        #expect(report.headersChecked == 1)
    }
}
