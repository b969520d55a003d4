import Foundation
import NIOCore
import SyncCodec
import Testing

/// Every captured exchange (the Cyrus 3.6.1 capture file and the transcripts of
/// sync-protocol §10) is decoded as the wire bytes it displays, and re-encoding the decoded
/// commands and responses gives back exactly those bytes: Corvid writes what Cyrus writes.
@Suite struct SyncFixtureTests {
    static let fixtures: String = {
        let file = #filePath
        return String(file[..<file.lastIndex(of: "/")!]) + "/Fixtures/"
    }()

    /// One exchange: the client's and the server's bytes, each displayed line + CRLF.
    struct Exchange {
        var name: String
        var client: [UInt8] = []
        var server: [UInt8] = []
        var serverStartsWithBanner = false
        var serverLines = 0
    }

    /// Splits a transcript into exchanges (code blocks or capture PARTs) and rebuilds each
    /// direction's stream. Lines shortened with "…" and annotations after two or more spaces
    /// (`C: NOOP      (before AUTHENTICATE)`) are left out; so is the IMAP-port PART 6.
    static func exchanges(_ file: String) throws -> [Exchange] {
        let text = try String(contentsOfFile: fixtures + file, encoding: .utf8)
        var result: [Exchange] = []
        var current = Exchange(name: file)
        func close() {
            if !current.client.isEmpty || !current.server.isEmpty { result.append(current) }
        }
        let annotation = try Regex(#"^([A-Z*+].*\S) {2,}\([^)]*\)$"#)
        var heading = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("### ") { heading = String(line.dropFirst(4).prefix(40)) }
            if line.hasPrefix("```") || line.hasPrefix("PART ") {
                close()
                let title = line.hasPrefix("PART ") ? String(line.prefix(40)) : heading
                current = Exchange(name: "\(file) #\(result.count): \(title)")
                continue
            }
            guard line.hasPrefix("C: ") || line.hasPrefix("S: "), !line.contains("…"),
                !current.name.contains("PART 6")
            else { continue }
            var content = String(line.dropFirst(3))
            if let match = content.wholeMatch(of: annotation) { content = String(match.output[1].substring ?? "") }
            let bytes = Array(content.utf8) + [13, 10]
            if line.hasPrefix("C: ") {
                current.client += bytes
            } else {
                if current.serverLines == 0, content.hasPrefix("* SASL") || content.hasPrefix("* OK") {
                    current.serverStartsWithBanner = true
                }
                current.serverLines += 1
                current.server += bytes
            }
        }
        close()
        return result
    }

    static let all: [Exchange] = {
        let files = ["cyrus-3.6-sync-capture.txt", "sync-protocol-section10.md"]
        return files.flatMap { (try? exchanges($0)) ?? [] }
    }()

    @Test func fixturesAreFound() {
        #expect(Self.all.count >= 15)
        #expect(Self.all.map(\.client.count).reduce(0, +) > 30_000)
    }

    @Test(arguments: all.map(\.name))
    func clientStreamDecodesAndReencodesExactly(_ name: String) throws {
        let exchange = try #require(Self.all.first { $0.name == name })
        let events = SyncTestSupport.decode(exchange.client, role: .replica)
        let errors = SyncTestSupport.errors(events)
        // The one deliberate error of the transcripts: `C: FOO` in §10.4.
        #expect(errors.allSatisfy { $0.code == .unrecognizedCommand }, "\(errors)")
        let expected = exchange.client.split(separator: 13, omittingEmptySubsequences: false)
        if errors.isEmpty {
            #expect(SyncTestSupport.reencode(events) == exchange.client, "\(expected.count) lines")
        }
        let oneByte = SyncTestSupport.decode(exchange.client, role: .replica, chunk: 1)
        #expect(SyncTestSupport.merged(oneByte) == SyncTestSupport.merged(events))
    }

    @Test(arguments: all.map(\.name))
    func serverStreamDecodesAndReencodesExactly(_ name: String) throws {
        let exchange = try #require(Self.all.first { $0.name == name })
        let events = SyncTestSupport.decode(
            exchange.server,
            role: .master,
            skipBanner: !exchange.serverStartsWithBanner
        )
        #expect(SyncTestSupport.errors(events).isEmpty, "\(SyncTestSupport.errors(events))")
        #expect(
            SyncTestSupport.responses(events).count == exchange.serverLines - Self.literalContinuationLines(events),
            "every displayed line is one response, except a file literal's lines"
        )
        #expect(SyncTestSupport.reencode(events) == exchange.server)
        let oneByte = SyncTestSupport.decode(
            exchange.server,
            role: .master,
            chunk: 1,
            skipBanner: !exchange.serverStartsWithBanner
        )
        #expect(SyncTestSupport.merged(oneByte) == SyncTestSupport.merged(events))
    }

    /// Displayed lines after a file literal header that belong to the same response
    /// (`* MESSAGE %{…}`): one per line of the body, and the header line itself.
    static func literalContinuationLines(_ events: [SyncDecoder.Event]) -> Int {
        SyncTestSupport.fileBodies(events).reduce(0) { $0 + $1.count(where: { $0 == 10 }) + 1 }
    }

    /// The `sync_client -v -v` (PART 3) and telemetry (PART 4) lines carry `>t>` / `<t<`
    /// prefixes that are not on the wire (§0): stripped, each one-line command or response
    /// decodes and re-encodes exactly.
    @Test func protocolLogLinesDecode() throws {
        let text = try String(contentsOfFile: Self.fixtures + "cyrus-3.6-sync-capture.txt", encoding: .utf8)
        let prefix = try Regex(#"^[<>][0-9]+[<>]"#)
        var checked = 0
        for line in text.split(separator: "\n") {
            guard let match = line.prefixMatch(of: prefix) else { continue }
            let content = String(line[match.range.upperBound...])
            guard !content.contains("%{"), !content.isEmpty else { continue }
            let wire = Array((content + "\r\n").utf8)
            let isResponse = content.hasPrefix("* ") || content.hasPrefix("OK ") || content.hasPrefix("NO ")
            let events = SyncTestSupport.decode(wire, role: isResponse ? .master : .replica, skipBanner: true)
            #expect(SyncTestSupport.errors(events).isEmpty, "\(content)")
            #expect(SyncTestSupport.reencode(events) == wire, "\(content)")
            checked += 1
        }
        #expect(checked >= 45)
    }

    /// PART 5 prints the replica's replies to `synctest` without prefixes.
    @Test func synctestRepliesDecode() throws {
        let text = try String(contentsOfFile: Self.fixtures + "cyrus-3.6-sync-capture.txt", encoding: .utf8)
        let part = try #require(text.range(of: "PART 5:")).upperBound
        let end = try #require(text.range(of: "PART 6:")).lowerBound
        var wire: [UInt8] = []
        for line in text[part..<end].split(separator: "\n") where line.hasPrefix("* M") || line.hasPrefix("* L") {
            wire += Array(line.utf8) + [13, 10]
        }
        let events = SyncTestSupport.decode(wire, role: .master, skipBanner: true)
        #expect(SyncTestSupport.errors(events).isEmpty)
        #expect(SyncTestSupport.responses(events).count == 7)
        #expect(SyncTestSupport.reencode(events) == wire)
    }
}
