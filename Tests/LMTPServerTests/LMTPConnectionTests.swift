import LMTPCodec
import Logging
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Synchronization
import Testing

@testable import LMTPServer

#if canImport(Glibc)
import Glibc
#endif

/// The connection driver over in-memory streams against a real SQLite store: golden
/// client/server exchanges, pipelining, and what is stored.
@Suite struct LMTPConnectionTests {
    final class Harness: Sendable {
        let directory: String
        let store: SQLiteMailStore
        let connection: LMTPConnection

        init(maxMessageSize: Int = 1 << 20, quotaKiB: Int64? = nil) async throws {
            var template = Array("/tmp/corvid-lmtp-XXXXXX".utf8CString)
            directory = String(cString: mkdtemp(&template)!)
            store = try SQLiteMailStore(
                configuration: .init(
                    configDirectory: directory + "/conf",
                    partitions: ["default": directory + "/spool"]
                )
            )
            for name in ["alice", "bob"] {
                _ = try await store.createUser(
                    try UserName(name),
                    passwordVerifier: "x",
                    quota: QuotaLimits(storageKiB: quotaKiB)
                )
            }
            connection = LMTPConnection(
                configuration: LMTPConfiguration(
                    serverName: "mx.test",
                    maxMessageSize: maxMessageSize,
                    maxCommandLine: 512
                ),
                store: store,
                clock: { 1_700_000_000 },
                logger: Logger(label: "test")
            )
        }

        deinit { _ = system("rm -rf '\(directory)'") }

        /// Sends the client chunks in order, returns everything the server wrote.
        func converse(_ chunks: [String]) async throws -> String {
            let output = Mutex<[UInt8]>([])
            let input = AsyncStream<ByteBuffer> { continuation in
                for chunk in chunks { continuation.yield(ByteBuffer(string: chunk)) }
                continuation.finish()
            }
            try await connection.run(peer: .init(address: "127.0.0.1"), input: input) { buffer in
                output.withLock { $0 += Array(buffer.readableBytesView) }
            }
            return String(decoding: output.withLock { $0 }, as: UTF8.self)
        }

        func stored(_ user: String) async throws -> [String] {
            let inbox = MailboxName.inbox(of: try UserName(user))
            var texts: [String] = []
            for record in try await store.records(in: inbox, includeExpunged: false) {
                texts.append(String(buffer: try await store.messageBytes(record.guid)))
            }
            return texts
        }
    }

    func replyLines(_ transcript: String) -> [String] {
        transcript.split(separator: "\r\n").map { String($0.prefix(9)) }
    }

    @Test func pipelinedTransactionWithMixedRecipients() async throws {
        let h = try await Harness()
        let transcript = try await h.converse([
            "LHLO client.test\r\nMAIL FROM:<sender@example.org> SIZE=40\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<BOB@example.com>\r\nDATA\r\n",
            "Subject: hi\r\n\r\n..dotted\r\nbody\r\n.\r\nQUIT\r\n",
        ])
        #expect(
            replyLines(transcript) == [
                "220 mx.te", "250-mx.te", "250-8BITM", "250-ENHAN", "250-PIPEL", "250 SIZE ", "250 2.1.0", "250 2.1.5",
                "550 5.1.1", "250 2.1.5", "354 Go ah", "250 2.1.5", "250 2.1.5", "221 2.0.0",
            ]
        )
        for user in ["alice", "bob"] {
            let messages = try await h.stored(user)
            #expect(messages.count == 1)
            #expect(
                messages[0].hasPrefix("Return-Path: <sender@example.org>\r\nReceived: from client.test (127.0.0.1)\r\n")
            )
            #expect(messages[0].hasSuffix("\r\nSubject: hi\r\n\r\n.dotted\r\nbody\r\n"))
        }
        #expect(await h.store.check().isHealthy)
    }

    @Test func badInputGetsRepliesAndSessionGoesOn() async throws {
        let h = try await Harness()
        let transcript = try await h.converse([
            "LHLO c\r\nXYZZY\r\nMAIL FROM:bad\r\n" + String(repeating: "A", count: 600)
                + "\r\nRCPT TO:<alice>\r\nMAIL FROM:<>\r\nDATA\r\n",
            "\u{0}\u{1}garbage\r\nRCPT TO:<alice>\r\nDATA\r\nok\r\n.\r\n",
        ])
        #expect(
            replyLines(transcript).filter { !$0.hasPrefix("250-") } == [
                "220 mx.te", "250 SIZE ", "500 5.5.2", "501 5.5.4", "500 5.5.2", "503 5.5.1", "250 2.1.0", "503 5.5.1",
                "501 5.5.4", "250 2.1.5", "354 Go ah", "250 2.1.5",
            ]
        )
        #expect(try await h.stored("alice").count == 1)
    }

    @Test func oversizeMessageIsRefusedAndNothingStored() async throws {
        let h = try await Harness(maxMessageSize: 1024)
        let big = String(repeating: "x", count: 70) + "\r\n"
        let transcript = try await h.converse([
            "LHLO c\r\nMAIL FROM:<a@b> SIZE=5000\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\n",
            String(repeating: big, count: 40) + ".\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\nsmall\r\n.\r\n",
        ])
        let lines = replyLines(transcript).filter { !$0.hasPrefix("250-") }
        #expect(
            lines == [
                "220 mx.te", "250 SIZE ", "552 5.3.4", "250 2.1.0", "250 2.1.5", "354 Go ah", "552 5.3.4", "250 2.1.0",
                "250 2.1.5", "354 Go ah", "250 2.1.5",
            ]
        )
        let stored = try await h.stored("alice")
        #expect(stored.count == 1 && stored[0].hasSuffix("small\r\n"))
        #expect(await h.store.check().notes.isEmpty, "a refused message leaves no file")
    }

    @Test func overQuotaAtRcptAndAtDelivery() async throws {
        let h = try await Harness(quotaKiB: 1)
        let body = String(repeating: "q", count: 700) + "\r\n"
        let transcript = try await h.converse([
            "LHLO c\r\nMAIL FROM:<a@b> SIZE=5000\r\nRCPT TO:<alice>\r\nRSET\r\n",
            "MAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\n", body + ".\r\n",
            "MAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\n", body + ".\r\n",
        ])
        let lines = replyLines(transcript).filter { !$0.hasPrefix("250-") }
        #expect(lines.contains("552 5.2.2"))
        #expect(lines.filter { $0 == "552 5.2.2" }.count == 2, "refused at RCPT by SIZE, then at delivery")
        #expect(try await h.stored("alice").count == 1)
    }

    @Test func plusDetailGoesToPostableFolderOnly() async throws {
        let h = try await Harness()
        let inbox = MailboxName.inbox(of: try UserName("alice"))
        let lists = try inbox.child("lists")
        _ = try await h.store.createMailbox(lists, acl: nil)
        let open = try inbox.child("open")
        _ = try await h.store.createMailbox(open, acl: ACL(cyrusString: "alice\tlrswipkxtecdan\tanyone\tp\t"))
        _ = try await h.converse([
            "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice+lists@x>\r\nRCPT TO:<alice+open@x>\r\nRCPT TO:<alice+missing@x>\r\nDATA\r\nhello\r\n.\r\n"
        ])
        #expect(try await h.store.records(in: open, includeExpunged: false).count == 1)
        #expect(
            try await h.store.records(in: lists, includeExpunged: false).isEmpty,
            "no p right for anyone: INBOX instead"
        )
        #expect(try await h.store.records(in: inbox, includeExpunged: false).count == 2)
    }

    @Test func droppedConnectionMidDataStoresNothing() async throws {
        let h = try await Harness()
        _ = try await h.converse([
            "LHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<alice>\r\nDATA\r\n", "partial message without end",
        ])
        #expect(try await h.stored("alice").isEmpty)
        let report = await h.store.check()
        #expect(report.isHealthy && report.notes.isEmpty)
    }
}
