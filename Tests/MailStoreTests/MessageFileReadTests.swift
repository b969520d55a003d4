import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Testing

/// Message files read back whole and exact, whatever their size relative to the read buffer.
@Suite struct MessageFileReadTests {
    /// Sizes around the empty body, one byte, and the 64 KiB and 256 KiB marks.
    static let sizes = [0, 1, 65_535, 65_536, 65_537, 262_144, 262_145]

    @Test(arguments: sizes) func aFileMessageReadsBackByteForByte(_ bodySize: Int) async throws {
        let t = try TemporaryStore(.files)
        _ = try await t.store.createUser(user("reader"), passwordVerifier: "v", quota: .unlimited)
        let inbox = MailboxName.inbox(of: user("reader"))
        let header = "Subject: size \(bodySize)\r\n\r\n"
        // A body that is not one repeated byte, so a misplaced chunk would show.
        let body = String((0..<bodySize).map { index in Character(UnicodeScalar(UInt8(97 + index % 23))) })
        _ = try #require(try await t.deliver(header + body, to: [inbox]).first).get()
        let guid = try #require(try await t.store.records(in: inbox, includeExpunged: false).first).guid
        let one = try await t.store.messageBytes(guid)
        #expect(one.readableBytes == header.utf8.count + bodySize)
        #expect(String(buffer: one) == header + body)
        let many = try await t.store.messageBytes([guid])
        #expect(many[guid] == one)
    }
}
