import MailMessage
import Testing

@Suite struct ContentTransferEncodingTests {
    func qp(_ text: String) -> String {
        String(decoding: ContentTransferEncoding.quotedPrintable.decode(Array(text.utf8)[...]) ?? [], as: UTF8.self)
    }

    @Test func parsesMechanisms() {
        #expect(ContentTransferEncoding(parsing: " Base64 (comment)") == .base64)
        #expect(ContentTransferEncoding(parsing: "QUOTED-PRINTABLE") == .quotedPrintable)
        #expect(ContentTransferEncoding(parsing: "") == .sevenBit)
        #expect(ContentTransferEncoding(parsing: "8bit") == .eightBit)
        #expect(ContentTransferEncoding(parsing: "X-UUEncode") == .unknown("x-uuencode"))
    }

    @Test func quotedPrintable() {
        #expect(qp("Gr=C3=BC=C3=9Fe") == "Grüße")
        #expect(qp("soft=\r\nbreak\r\nhard") == "softbreak\r\nhard")
        #expect(qp("soft=\nbreak") == "softbreak", "bare LF soft break")
        #expect(qp("padded   \r\nline\t\r\n") == "padded\r\nline\r\n", "trailing white space is transport padding")
        #expect(qp("soft=  \r\nx") == "softx", "white space after the soft break's =")
        #expect(qp("bad =ZZ and =4") == "bad =ZZ and =4", "malformed escapes are kept")
        #expect(qp("last=") == "last")
        #expect(qp("a=3D=\r\n") == "a=")
    }

    @Test func base64IsLenient() {
        let decoded = ContentTransferEncoding.base64.decode(Array("SGVs\r\nbG8g\r\nd29y bGQ=\r\n!junk".utf8)[...])
        #expect(decoded.map { String(decoding: $0, as: UTF8.self) } == "Hello world")
        #expect(ContentTransferEncoding.base64.decode(Array("SGk".utf8)[...]) == Array("Hi".utf8), "no padding")
    }
}

@Suite struct BinaryContentTests {
    static let message = Array(
        """
        Subject: binary
        Content-Type: multipart/mixed; boundary=b

        --b
        Content-Type: application/octet-stream
        Content-Transfer-Encoding: base64

        AAEC
        /w==
        --b
        Content-Type: text/plain; charset=utf-8
        Content-Transfer-Encoding: quoted-printable

        caf=C3=A9 =
        au lait
        --b
        Content-Type: application/octet-stream
        Content-Transfer-Encoding: x-uuencode

        begin 644 x
        --b
        Content-Type: text/plain

        plain 7bit
        --b
        Content-Type: message/rfc822

        Subject: inner
        Content-Transfer-Encoding: base64

        aW5uZXI=
        --b--
        """.replacing("\n", with: "\r\n").utf8
    )

    @Test func base64Part() {
        let result = MessageSection.binaryContent(part: [1], of: Self.message)
        #expect(result == .content([0, 1, 2, 255]))
        #expect(result.size == 4)
    }

    @Test func quotedPrintablePart() {
        #expect(MessageSection.binaryContent(part: [2], of: Self.message) == .content(Array("café au lait".utf8)))
    }

    @Test func unknownEncoding() {
        let result = MessageSection.binaryContent(part: [3], of: Self.message)
        #expect(result == .unknownTransferEncoding("x-uuencode"))
        #expect(result.size == nil)
    }

    @Test func passThrough() {
        #expect(MessageSection.binaryContent(part: [4], of: Self.message) == .content(Array("plain 7bit".utf8)))
        // A message part passes through whole; its embedded body is decoded at 5.1.
        let embedded = Array("Subject: inner\r\nContent-Transfer-Encoding: base64\r\n\r\naW5uZXI=".utf8)
        #expect(MessageSection.binaryContent(part: [5], of: Self.message) == .content(embedded))
        #expect(MessageSection.binaryContent(part: [5, 1], of: Self.message) == .content(Array("inner".utf8)))
    }

    @Test func emptyPathIsTheTopLevelBody() {
        let single = Array("Content-Transfer-Encoding: base64\r\n\r\naGk=\r\n".utf8)
        #expect(MessageSection.binaryContent(part: [], of: single) == .content(Array("hi".utf8)))
        #expect(MessageSection.binaryContent(part: [1], of: single) == .content(Array("hi".utf8)))
        let multipart = MessageSection.binaryContent(part: [], of: Self.message)
        #expect(multipart == MessageSection(text: .text).extract(from: Self.message).map { .content($0) })
    }

    @Test func nonexistentPart() {
        #expect(MessageSection.binaryContent(part: [9], of: Self.message) == .nonexistentPart)
        #expect(MessageSection.binaryContent(part: [1, 1], of: Self.message) == .nonexistentPart)
    }
}
