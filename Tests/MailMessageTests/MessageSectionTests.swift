import MailMessage
import Testing

/// Sections of RFC 9051 §6.4.5's example structure, on a message built to have every corner.
@Suite struct MessageSectionExtractionTests {
    static func crlf(_ text: String) -> [UInt8] { Array(text.replacing("\n", with: "\r\n").utf8) }

    /// HEADER, TEXT (multipart/mixed); 1 text/plain; 2 application/octet-stream;
    /// 3 message/rfc822 (multipart/mixed: 3.1 text/plain, 3.2 application/octet-stream);
    /// 4 multipart/mixed (4.1 image/gif, 4.2 message/rfc822 with a single text body).
    static let nested = crlf(
        """
        From: Alice <alice@example.org>
        Subject: the whole
         thing, folded
        To: bob@example.org
        Content-Type: multipart/mixed; boundary=outer

        preamble
        --outer
        Content-Type: text/plain

        part one
        --outer
        Content-Type: application/octet-stream
        Content-Transfer-Encoding: base64

        AAECAw==
        --outer
        Content-Type: message/rfc822

        From: carol@example.org
        Subject: inner
        Content-Type: multipart/mixed; boundary=inner

        --inner

        inner one
        --inner
        Content-Type: application/octet-stream

        inner two
        --inner--
        --outer
        Content-Type: multipart/mixed; boundary=four

        --four
        Content-Type: image/gif

        GIF89a
        --four
        Content-Type: message/rfc822

        Subject: deepest

        deep body
        --four--
        --outer--
        epilogue
        """
    )

    func text(_ section: MessageSection, _ message: [UInt8] = Self.nested) -> String? {
        section.extract(from: message).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func wholeHeaderAndText() throws {
        #expect(MessageSection.whole.extract(from: Self.nested) == Self.nested)
        let header = try #require(text(MessageSection(text: .header)))
        #expect(header.hasPrefix("From: Alice"))
        #expect(header.hasSuffix("boundary=outer\r\n\r\n"))
        let body = try #require(text(MessageSection(text: .text)))
        #expect(body.hasPrefix("preamble\r\n--outer\r\n"))
        #expect(body.hasSuffix("epilogue"))
        #expect(header.utf8.count + body.utf8.count == Self.nested.count)
    }

    @Test(arguments: [
        ([1], "part one"),
        ([2], "AAECAw=="),
        ([3, 1], "inner one"),
        ([3, 2], "inner two"),
        ([4, 1], "GIF89a"),
        ([4, 2, 1], "deep body"),
    ])
    func partBodies(_ path: [Int], _ expected: String) {
        #expect(text(MessageSection(part: path)) == expected)
    }

    @Test func messagePartIsTheWholeEmbeddedMessage() throws {
        let three = try #require(text(MessageSection(part: [3])))
        #expect(three.hasPrefix("From: carol@example.org\r\n"))
        #expect(three.hasSuffix("--inner--"))
        #expect(text(MessageSection(part: [4, 2])) == "Subject: deepest\r\n\r\ndeep body")
        // A multipart part is its whole body, delimiters included.
        let four = try #require(text(MessageSection(part: [4])))
        #expect(four.hasPrefix("--four\r\n") && four.hasSuffix("--four--"))
    }

    @Test func embeddedHeaderAndText() throws {
        let header = try #require(text(MessageSection(part: [3], text: .header)))
        #expect(
            header
                == "From: carol@example.org\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n"
        )
        let body = try #require(text(MessageSection(part: [3], text: .text)))
        #expect(body.hasPrefix("--inner\r\n\r\ninner one") && body.hasSuffix("--inner--"))
        #expect(text(MessageSection(part: [4, 2], text: .header)) == "Subject: deepest\r\n\r\n")
        #expect(text(MessageSection(part: [4, 2], text: .text)) == "deep body")
        #expect(
            text(MessageSection(part: [3], text: .headerFields(["subject"])))
                == "Subject: inner\r\n\r\n"
        )
    }

    @Test func headerAndTextOfAPartThatIsNoMessageDoNotExist() {
        #expect(MessageSection(part: [1], text: .header).extract(from: Self.nested) == nil)
        #expect(MessageSection(part: [4], text: .text).extract(from: Self.nested) == nil)
        #expect(MessageSection(part: [4, 1], text: .headerFields(["A"])).extract(from: Self.nested) == nil)
    }

    @Test func mimeHeaders() {
        #expect(text(MessageSection(part: [1], text: .mime)) == "Content-Type: text/plain\r\n\r\n")
        #expect(text(MessageSection(part: [4, 1], text: .mime)) == "Content-Type: image/gif\r\n\r\n")
        #expect(text(MessageSection(part: [3], text: .mime)) == "Content-Type: message/rfc822\r\n\r\n")
        // 3.1 has an empty MIME header: just the blank line.
        #expect(text(MessageSection(part: [3, 1], text: .mime)) == "\r\n")
        #expect(MessageSection(text: .mime).extract(from: Self.nested) == nil, "MIME needs a part number")
    }

    @Test(arguments: [[0], [5], [1, 1], [2, 1], [3, 3], [4, 2, 2], [4, 1, 1], [3, 1, 1]])
    func nonexistentParts(_ path: [Int]) {
        #expect(MessageSection(part: path).extract(from: Self.nested) == nil)
        #expect(MessageSection(part: path, text: .mime).extract(from: Self.nested) == nil)
    }

    @Test func headerFieldsInMessageOrderWithContinuations() {
        let fields = text(MessageSection(text: .headerFields(["TO", "subject", "X-Missing"])))
        #expect(fields == "Subject: the whole\r\n thing, folded\r\nTo: bob@example.org\r\n\r\n")
        let none = text(MessageSection(text: .headerFields(["X-Missing"])))
        #expect(none == "\r\n", "no field matches: only the blank line")
        let not = text(MessageSection(text: .headerFieldsNot(["subject", "content-type", "FROM"])))
        #expect(not == "To: bob@example.org\r\n\r\n")
    }

    @Test func repeatedFieldsAreAllReturned() {
        let message = Self.crlf("Received: a\nX: 1\nreceived: b\n  c\n\nbody")
        #expect(
            text(MessageSection(text: .headerFields(["RECEIVED"])), message)
                == "Received: a\r\nreceived: b\r\n  c\r\n\r\n"
        )
    }
}

@Suite struct MessageSectionEdgeTests {
    func text(_ section: MessageSection, _ message: String) -> String? {
        section.extract(from: Array(message.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func nonMultipartMessageHasOnlyPartOne() {
        let message = "Subject: s\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        #expect(text(MessageSection(part: [1]), message) == "hello\r\n")
        #expect(
            text(MessageSection(part: [1], text: .mime), message) == "Subject: s\r\nContent-Type: text/plain\r\n\r\n"
        )
        #expect(text(MessageSection(part: [2]), message) == nil)
        #expect(text(MessageSection(part: [1, 1]), message) == nil)
    }

    @Test func nonMIMEMessage() {
        let message = "From: a@b\r\n\r\njust text"
        #expect(text(MessageSection(part: [1]), message) == "just text")
        #expect(text(MessageSection(text: .text), message) == "just text")
    }

    @Test func topLevelMessageRFC822() {
        let message = "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninside"
        #expect(text(MessageSection(part: [1]), message) == "Subject: in\r\n\r\ninside")
        #expect(text(MessageSection(part: [1], text: .header), message) == "Subject: in\r\n\r\n")
        #expect(text(MessageSection(part: [1, 1]), message) == "inside")
    }

    @Test func missingFinalBoundary() {
        let message = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo, unterminated"
        #expect(text(MessageSection(part: [1]), message) == "one")
        #expect(text(MessageSection(part: [2]), message) == "two, unterminated")
        #expect(text(MessageSection(part: [3]), message) == nil)
    }

    @Test func noTrailingCRLF() {
        let message = "Subject: x\r\nTo: y"
        #expect(text(MessageSection(text: .header), message) == message)
        #expect(text(MessageSection(text: .text), message) == "")
        // No body and no blank line: the blank line is not invented (RFC 9051 §6.4.5).
        #expect(text(MessageSection(text: .headerFields(["TO"])), message) == "To: y\r\n")
        #expect(text(MessageSection(text: .headerFieldsNot(["TO"])), message) == "Subject: x\r\n")
        #expect(text(MessageSection(part: [1]), message) == "")
    }

    @Test func headerOnlyMessageWithBlankLine() {
        let message = "Subject: x\r\n\r\n"
        #expect(text(MessageSection(text: .header), message) == message)
        #expect(text(MessageSection(text: .headerFields(["Subject"])), message) == message)
        #expect(text(MessageSection(text: .text), message) == "")
    }

    @Test func bareLFLineEndings() {
        let message =
            "Subject: a\n b\nContent-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: text/plain\n\nlf body\n--z--\n"
        #expect(
            text(MessageSection(text: .header), message)
                == "Subject: a\n b\nContent-Type: multipart/mixed; boundary=z\n\n"
        )
        #expect(text(MessageSection(text: .headerFields(["subject"])), message) == "Subject: a\n b\n\n")
        #expect(text(MessageSection(part: [1]), message) == "lf body")
        #expect(text(MessageSection(part: [1], text: .mime), message) == "Content-Type: text/plain\n\n")
    }

    @Test func emptyMessage() {
        #expect(MessageSection.whole.extract(from: []) == [])
        #expect(MessageSection(text: .header).extract(from: []) == [])
        #expect(MessageSection(text: .headerFields(["A"])).extract(from: []) == [])
        #expect(MessageSection(part: [1]).extract(from: []) == [])
    }

    @Test func aStructureFromOtherBytesDoesNotTrap() {
        let long = Array("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nlong part\r\n--b--\r\n".utf8)
        let structure = MIMEPart.parse(long)
        let short = Array("X: y\r\n".utf8)
        #expect(MessageSection(part: [1]).extract(from: short, structure: structure) == [])
    }
}

@Suite struct MessageSectionWireNameTests {
    @Test(arguments: [
        (MessageSection.whole, ""),
        (MessageSection(text: .text), "TEXT"),
        (MessageSection(text: .header), "HEADER"),
        (MessageSection(part: [1, 2]), "1.2"),
        (MessageSection(part: [1, 2], text: .mime), "1.2.MIME"),
        (MessageSection(part: [3], text: .text), "3.TEXT"),
        (MessageSection(part: [1, 2], text: .headerFields(["FROM", "To"])), "1.2.HEADER.FIELDS (FROM To)"),
        (MessageSection(text: .headerFieldsNot(["Received"])), "HEADER.FIELDS.NOT (Received)"),
        (MessageSection(text: .headerFields(["a\"b", "x]"])), "HEADER.FIELDS (\"a\\\"b\" \"x]\")"),
        (MessageSection(text: .headerFields([""])), "HEADER.FIELDS (\"\")"),
    ])
    func wireName(_ section: MessageSection, _ expected: String) {
        #expect(section.wireName == expected)
    }
}
