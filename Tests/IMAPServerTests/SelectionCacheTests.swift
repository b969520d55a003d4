import IMAPCodec
import MailCore
import MailStore
import SessionTestSupport
import Testing

@testable import IMAPServer

/// SELECT reuses the list another session built and merges in only what changed since: the
/// sequence map must always equal the store's records.
@Suite struct SelectionCacheTests {
    static let message = "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"

    /// `FETCH 1:* (UID FLAGS)` as the store would answer it.
    static func expected(_ server: IMAPTestServer, _ user: String) async throws -> [String] {
        let records = try await server.store.records(in: .inbox(of: try UserName(user)), includeExpunged: false)
        return records.enumerated().map { index, record in
            "* \(index + 1) FETCH (UID \(record.uid.rawValue) FLAGS (\(flagList(record.flags))))"
        }
    }

    static func flagList(_ flags: FlagSet) -> String { flags.all.map(\.name).joined(separator: " ") }

    @Test(arguments: [1, 2, 3]) func selectAfterOtherSessionsChangesShowsTheStoresState(_ seed: UInt64) async throws {
        let server = try await IMAPTestServer()
        for _ in 0..<12 { try await server.deliver(Self.message, to: "alice") }
        let writer = try await server.login("alice")
        _ = try await writer.command("SELECT INBOX")
        var random = SplitMix(state: seed)
        for round in 0..<15 {
            // A session selects (the list is kept at this state), then the writer changes things.
            let reader = try await server.login("alice")
            let select = try await reader.command("SELECT INBOX")
            let listed = try await reader.command("FETCH 1:* (UID FLAGS)").dropLast()
            let expected = try await Self.expected(server, "alice")
            #expect(select.contains("* \(expected.count) EXISTS"), "round \(round)")
            #expect(Array(listed) == expected, "round \(round)")
            _ = try await reader.command("LOGOUT")
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let count = expected.count
                switch Int.random(in: 0..<5, using: &random) {
                case 0 where count > 0:
                    _ = try await writer.command(
                        "STORE \(Int.random(in: 1...count, using: &random)) +FLAGS (\\Flagged)"
                    )
                case 1 where count > 0:
                    _ = try await writer.command(
                        "STORE \(Int.random(in: 1...count, using: &random)) +FLAGS ($Label\(round))"
                    )
                case 2 where count > 1:
                    _ = try await writer.command(
                        "STORE \(Int.random(in: 1...count, using: &random)) +FLAGS (\\Deleted)"
                    )
                    _ = try await writer.command("EXPUNGE")
                case 3:
                    try await server.deliver(Self.message, to: "alice")
                    _ = try await writer.command("NOOP")
                default:
                    _ = try await writer.command(
                        "APPEND INBOX (\\Seen) {\(Self.message.utf8.count)+}\r\n\(Self.message)"
                    )
                }
            }
        }
    }

    /// Replication can write a record under a modseq below the mailbox's (here UID 2
    /// expunged at modseq 1, as an out-of-order apply does): the changes since the kept list
    /// miss it, so SELECT must notice the count and read every record.
    @Test func aChangeBehindTheKeptModseqFallsBackToAFullRead() async throws {
        let server = try await IMAPTestServer()
        for _ in 0..<5 { try await server.deliver(Self.message, to: "alice") }
        let first = try await server.login("alice")
        #expect(try await first.command("SELECT INBOX").contains("* 5 EXISTS"))
        try await server.temporary.expungeBehindModSeq(UID(2), in: .inbox(of: try UserName("alice")))
        let second = try await server.login("alice")
        #expect(try await second.command("SELECT INBOX").contains("* 4 EXISTS"))
        let listed = try await second.command("FETCH 1:* (UID)").dropLast()
        #expect(Array(listed) == ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "* 3 FETCH (UID 4)", "* 4 FETCH (UID 5)"])
    }

    @Test func mergingReplacesRemovesAndInsertsByUID() {
        func record(_ uid: UInt32, modSeq: UInt64, expunged: Bool = false) -> MessageRecord {
            MessageRecord(
                uid: UID(uid),
                modSeq: ModSeq(modSeq),
                lastUpdated: 0,
                internalDate: 0,
                saveDate: 0,
                size: 1,
                guid: MessageGUID(bytes: Array(repeating: UInt8(uid), count: 20))!,
                flags: FlagSet(),
                isExpunged: expunged
            )
        }
        let old = [2, 4, 6, 8].map { SelectedMailbox.Entry(record($0, modSeq: 1)) }
        let merged = SelectedMailbox.merging(
            old,
            [record(1, modSeq: 5), record(4, modSeq: 5, expunged: true), record(6, modSeq: 6), record(9, modSeq: 7)]
        )
        #expect(merged.map(\.uid.rawValue) == [1, 2, 6, 8, 9])
        #expect(merged.map(\.modSeq.rawValue) == [5, 1, 6, 1, 7])
        #expect(SelectedMailbox.merging(old, []) == old)
    }
}
