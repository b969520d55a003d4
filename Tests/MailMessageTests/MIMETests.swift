import MailMessage
import Testing

@Suite struct EncodedWordTests {
    @Test(arguments: [
        ("=?UTF-8?B?Q2Fmw6k=?=", "Café"),
        ("=?iso-8859-1?Q?Caf=E9_au_lait?=", "Café au lait"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  // whitespace between encoded words is dropped
        ("Re: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from me", "Re: Grüße from me"),
        ("=?windows-1252?Q?=93quoted=94?=", "\u{201C}quoted\u{201D}"),
        ("=?utf-8*en?Q?lang?=", "lang"),  // RFC 2231 language suffix
        ("=?bogus?X?abc?=", "=?bogus?X?abc?="),  // unknown encoding: left alone
        ("=?utf-8?B?!!!?=", "=?utf-8?B?!!!?="),  // invalid base64: left alone
        ("plain text", "plain text"),
        ("=?unknown-charset?Q?abc?=", "abc"),
    ])
    func decodes(_ input: String, _ expected: String) {
        #expect(EncodedWord.decode(input) == expected)
    }
}

@Suite struct ContentTypeTests {
    @Test func parsesTypeAndParameters() {
        let type = ContentType(parsing: "Multipart/Mixed; boundary=\"=_a b\"; charset=UTF-8 (comment)")
        #expect(type.type == "multipart" && type.subtype == "mixed")
        #expect(type.parameters["boundary"] == "=_a b")
        #expect(type.parameters["charset"] == "UTF-8")
    }

    @Test func decodesRFC2231ContinuationsAndCharsets() {
        let type = ContentType(
            parsing: "application/pdf; name*0*=utf-8''R%C3%A9sum%C3%A9; name*1*=%20final; name*2=.pdf"
        )
        #expect(type.parameters["name"] == "Résumé final.pdf")
        let latin = ContentType(parsing: "text/plain; title*=iso-8859-1'fr'Caf%E9")
        #expect(latin.parameters["title"] == "Café")
    }

    @Test func malformedTypeFallsBackToTextPlain() {
        #expect(ContentType(parsing: "garbage").type == "text")
        #expect(ContentType(parsing: "").subtype == "plain")
        #expect(ContentType(parsing: "text/; charset=x").parameters["charset"] == "x")
    }
}

@Suite struct MIMEStructureTests {
    func message(_ text: String) -> [UInt8] { Array(text.replacing("\n", with: "\r\n").utf8) }

    func body(_ part: MIMEPart, _ bytes: [UInt8]) -> String {
        String(decoding: bytes[part.bodyStart..<part.bodyEnd], as: UTF8.self)
    }

    @Test func nestedMultipartsWithPreambleAndEpilogue() {
        let bytes = message(
            """
            Subject: nested
            Content-Type: multipart/mixed; boundary=outer

            preamble is ignored
            --outer
            Content-Type: multipart/alternative; boundary="inner"

            --inner
            Content-Type: text/plain; charset=utf-8

            plain
            --inner
            Content-Type: text/html

            <p>html</p>
            --inner--
            --outer
            Content-Type: message/rfc822

            Subject: attached
            Content-Type: text/plain

            inside
            --outer--
            epilogue is ignored
            """
        )
        let root = MIMEPart.parse(bytes)
        #expect(root.contentType.subtype == "mixed")
        #expect(root.parts.count == 2)
        let alternative = root.parts[0]
        #expect(
            alternative.parts.map { "\($0.contentType.type)/\($0.contentType.subtype)" } == ["text/plain", "text/html"]
        )
        #expect(body(alternative.parts[0], bytes) == "plain")
        #expect(body(alternative.parts[1], bytes) == "<p>html</p>")
        let attached = root.parts[1]
        #expect(attached.encapsulated.count == 1)
        #expect(attached.encapsulated[0].header.first("Subject")?.unfoldedValue == "attached")
        #expect(body(attached.encapsulated[0], bytes) == "inside")
    }

    @Test func missingCloseDelimiterEndsTheLastPartAtTheEnd() {
        let bytes = message(
            """
            Content-Type: multipart/mixed; boundary=b

            --b

            one
            --b

            two, never closed
            """
        )
        let root = MIMEPart.parse(bytes)
        #expect(root.parts.count == 2)
        #expect(body(root.parts[1], bytes) == "two, never closed")
        #expect(root.parts[0].contentType == .default, "parts default to text/plain")
    }

    @Test func multipartWithoutBoundaryIsALeaf() {
        let root = MIMEPart.parse(message("Content-Type: multipart/mixed\n\n--x\nbody\n"))
        #expect(root.parts.isEmpty)
    }

    @Test func digestPartsDefaultToMessageRFC822() {
        let bytes = message(
            """
            Content-Type: multipart/digest; boundary=d

            --d

            Subject: first

            one
            --d--
            """
        )
        let root = MIMEPart.parse(bytes)
        #expect(root.parts[0].contentType.type == "message")
        #expect(root.parts[0].encapsulated.first?.header.first("Subject")?.unfoldedValue == "first")
    }

    @Test func eightBitAndEncodedHeaders() {
        var bytes = Array("Subject: caf".utf8) + [0xC3, 0xA9]
        bytes += Array("\r\nFrom: =?utf-8?b?QsO2Yg==?= <bob@example.org>\r\n\r\nbody".utf8)
        let root = MIMEPart.parse(bytes)
        #expect(root.header.first("Subject")?.unfoldedValue == "café")
        #expect(EncodedWord.decode(root.header.first("From")!.unfoldedValue) == "Böb <bob@example.org>")
    }

    @Test func nestingDepthIsBounded() {
        // 200 nested message/rfc822 layers: the parser stops at its named limit.
        var text = "Subject: core\r\n\r\nbody\r\n"
        for _ in 0..<200 { text = "Content-Type: message/rfc822\r\n\r\n" + text }
        var part = MIMEPart.parse(Array(text.utf8))
        var depth = 0
        while let inner = part.encapsulated.first {
            part = inner
            depth += 1
        }
        #expect(depth == MIMEPart.maxDepth)
    }
}
