import MailMessage
import Testing

/// Messages stitched from fragments that break parsers (stray boundaries, lone CR and LF,
/// encoded words, nesting), checked for crashes and for invariants every section keeps.
@Suite struct MessageHostileInputTests {
    /// xorshift64*: a fixed seed makes every failure reproducible.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 2_685_821_657_736_338_717
        }
    }

    static let fragments = [
        "Content-Type: multipart/mixed; boundary=b\r\n", "Content-Type: message/rfc822\r\n",
        "Content-Type: text/plain; charset=iso-8859-1\r\n", "Content-Transfer-Encoding: base64\r\n",
        "Content-Transfer-Encoding: quoted-printable\r\n", "Content-Transfer-Encoding: x-bogus\r\n",
        "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n", "Subject: =?iso-8859-1?b?", " folded\r\n", "\r\n", "\n", "\r",
        "--b\r\n", "--b--\r\n", "--b", "=\r\n", "=C3", "AAEC/w==", "plain words ", "\u{00FC}", ":", "X:",
        "Date: 1 Jan 70 00:00 +0000\r\n",
    ]

    static func message(_ generator: inout Generator) -> [UInt8] {
        var text = ""
        for _ in 0..<Int.random(in: 0...40, using: &generator) {
            text += fragments.randomElement(using: &generator)!
        }
        return Array(text.utf8)
    }

    static func paths(_ part: MIMEPart, prefix: [Int], into out: inout [[Int]]) {
        guard prefix.count < 6 else { return }
        out.append(prefix)
        let children =
            part.parts.isEmpty ? part.encapsulated.flatMap { $0.parts.isEmpty ? [$0] : $0.parts } : part.parts
        for (offset, child) in children.enumerated() {
            paths(child, prefix: prefix + [offset + 1], into: &out)
        }
    }

    @Test func sectionsBinaryAndSearchNeverTrapAndKeepInvariants() throws {
        var generator = Generator(state: 0x5EED_CAFE_F00D_D00D)
        for _ in 0..<3000 {
            let bytes = Self.message(&generator)
            let structure = MIMEPart.parse(bytes)
            let header = try #require(MessageSection(text: .header).extract(from: bytes, structure: structure))
            let text = try #require(MessageSection(text: .text).extract(from: bytes, structure: structure))
            #expect(header + text == bytes, "HEADER and TEXT split the message")
            var all: [[Int]] = []
            Self.paths(structure, prefix: [], into: &all)
            for path in all + [[1], [2], [1, 1], [3, 2, 1]] {
                let sections: [MessageSection.Text?] = [
                    nil, .header, .text, .mime, .headerFields(["subject", "X"]), .headerFieldsNot(["subject"]),
                ]
                for kind in sections {
                    let section = MessageSection(part: path, text: kind)
                    if let extracted = section.extract(from: bytes, structure: structure), kind == nil {
                        #expect(extracted.count <= bytes.count)
                    }
                }
                _ = MessageSection.binaryContent(part: path, of: bytes, structure: structure)
            }
            let search = MessageSearchText(bytes, structure: structure)
            _ = search.textContains("grüße")
            _ = search.headerContains(field: "subject", "")
            _ = search.sentDate
        }
    }
}
