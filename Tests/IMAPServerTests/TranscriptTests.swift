import Foundation
import MailCore
import Testing

/// Golden `C:`/`S:` transcripts in `Transcripts/*.imap`, replayed against a real store.
///
/// `C:` lines are sent as written (`\r\n` inside a line stands for CRLF, for literals); the
/// `S:` lines after them are the exact lines the server must answer, in order, where `…`
/// matches any text (UIDVALIDITY, modseqs). `DELIVER user subject` puts a message in a user's
/// INBOX as LMTP would; `#` starts a comment.
@Suite struct TranscriptTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Transcripts"
    )

    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".imap") }
            .sorted()
    }

    @Test(arguments: names)
    func transcript(_ name: String) async throws {
        let text = try String(contentsOf: Self.directory.appendingPathComponent(name), encoding: .utf8)
        let server = try await IMAPTestServer()
        // The transcript starts with the greeting.
        let client = IMAPTestClient(connection: server.connection)
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("DELIVER ") {
                let parts = line.dropFirst(8).split(separator: " ", maxSplits: 1)
                let subject = parts.count > 1 ? String(parts[1]) : "test"
                try await server.deliver(
                    "From: sender@example.org\r\nSubject: \(subject)\r\nMessage-ID: <\(number)@t>\r\n\r\nBody of \(subject).\r\n",
                    to: String(parts[0])
                )
            } else if line.hasPrefix("C: ") {
                client.send(line.dropFirst(3).replacing("\\r\\n", with: "\r\n") + "\r\n")
            } else if line.hasPrefix("S: ") {
                let expected = line.dropFirst(3).replacing("\\r\\n", with: "\r\n")
                let actual = try await client.readLine()
                #expect(
                    Self.matches(actual, String(expected)),
                    "\(name):\(number + 1): expected \(expected)\n got      \(actual)"
                )
            } else {
                Issue.record("\(name):\(number + 1): unknown line \(line)")
            }
        }
    }

    /// Exact match where `…` stands for any run of characters.
    static func matches(_ actual: String, _ pattern: String) -> Bool {
        let pieces = pattern.components(separatedBy: "…")
        guard pieces.count > 1 else { return actual == pattern }
        guard actual.hasPrefix(pieces[0]) else { return false }
        var rest = actual.dropFirst(pieces[0].count)
        for piece in pieces.dropFirst().dropLast() {
            guard let range = rest.range(of: piece) else { return false }
            rest = rest[range.upperBound...]
        }
        return rest.hasSuffix(pieces.last!)
    }
}
