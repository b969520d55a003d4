import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Testing

/// The header cache behind header-only SEARCH and FETCH.
@Suite struct HeaderCacheTests {
    func user(_ name: String) -> UserName { try! UserName(name) }

    @Test(arguments: StorageMode.allCases) func headersAreCachedThroughTheBlankLine(_ mode: StorageMode) async throws {
        let t = try TemporaryStore(mode)
        _ = try await t.store.createUser(user("bob"), passwordVerifier: "v", quota: .unlimited)
        let inbox = MailboxName.inbox(of: user("bob"))
        let header = "From: a@b\r\nSubject: cached\r\n\r\n"
        let body = String(repeating: "body line\r\n", count: 20_000)
        _ = try await t.deliver(header + body, to: [inbox])
        _ = try await t.deliver("Subject: no body\r\n", to: [inbox])
        let records = try await t.store.records(in: inbox, includeExpunged: false)
        let headers = try await t.store.messageHeaders(records.map(\.guid))
        #expect(headers[records[0].guid].map { String(buffer: $0) } == header)
        // A message with no blank line is all header.
        #expect(headers[records[1].guid].map { String(buffer: $0) } == "Subject: no body\r\n")
    }

    @Test func anOverlongHeaderFallsBackToTheWholeMessage() async throws {
        let t = try TemporaryStore(.files)
        _ = try await t.store.createUser(user("bob"), passwordVerifier: "v", quota: .unlimited)
        let inbox = MailboxName.inbox(of: user("bob"))
        let text = String(repeating: "X-Long: \(String(repeating: "y", count: 990))\r\n", count: 80) + "\r\nbody\r\n"
        _ = try await t.deliver(text, to: [inbox])
        let guid = try await t.store.records(in: inbox, includeExpunged: false)[0].guid
        #expect(try await t.store.messageHeaders([guid])[guid].map { String(buffer: $0) } == text)
    }
}
