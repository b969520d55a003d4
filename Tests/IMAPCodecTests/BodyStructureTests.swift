import IMAPCodec
import MailMessage
import NIOCore
import Testing

/// Golden message ↔ ENVELOPE / BODY / BODYSTRUCTURE pairs, derived from RFC 9051 §7.5.2 and §9.
@Suite struct BodyStructureTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.replacing("\n", with: "\r\n").utf8) }

    func envelope(_ message: [UInt8]) -> String {
        var buffer = ByteBuffer()
        IMAPWriter.writeEnvelope(Envelope(header: MessageHeader(parsing: message)), into: &buffer)
        return String(buffer: buffer)
    }

    func structure(_ message: [UInt8], extensions: Bool) -> String {
        var buffer = ByteBuffer()
        IMAPWriter.writeBodyStructure(
            BodyStructure(MIMEPart.parse(message), in: message),
            extensions: extensions,
            into: &buffer
        )
        return String(buffer: buffer)
    }

    let simple = """
        From: Alice Example <alice@example.org>
        To: bob@example.com, "Carol, C." <carol@example.net>
        Subject: =?utf-8?q?Hi?=
        Date: Mon, 23 Nov 2026 10:00:00 +0000
        Message-ID: <m1@example.org>

        Hello
        World

        """

    @Test func simpleTextMessage() {
        let message = bytes(simple)
        #expect(
            envelope(message)
                == "(\"Mon, 23 Nov 2026 10:00:00 +0000\" \"=?utf-8?q?Hi?=\" ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((\"Alice Example\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.com\")(\"Carol, C.\" NIL \"carol\" \"example.net\")) NIL NIL NIL \"<m1@example.org>\")"
        )
        #expect(
            structure(message, extensions: false)
                == "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 14 2)"
        )
        #expect(
            structure(message, extensions: true)
                == "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 14 2 NIL NIL NIL NIL)"
        )
    }

    @Test func multipartWithAttachmentAndGroupAddress() {
        let message = bytes(
            """
            From: a@example.org
            To: undisclosed-recipients:;
            Content-Type: multipart/mixed; boundary="b1"

            --b1
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit

            café
            --b1
            Content-Type: application/octet-stream; name="a.bin"
            Content-Disposition: attachment; filename="a.bin"
            Content-Transfer-Encoding: base64

            AAEC
            --b1--

            """
        )
        #expect(envelope(message).contains("((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"))
        #expect(
            structure(message, extensions: false)
                == "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\" 5 0)(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"a.bin\") NIL NIL \"BASE64\" 4) \"MIXED\")"
        )
        #expect(
            structure(message, extensions: true)
                == "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"8BIT\" 5 0 NIL NIL NIL NIL)(\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"a.bin\") NIL NIL \"BASE64\" 4 NIL (\"ATTACHMENT\" (\"FILENAME\" \"a.bin\")) NIL NIL) \"MIXED\" (\"BOUNDARY\" \"b1\") NIL NIL NIL)"
        )
    }

    @Test func encapsulatedMessageCarriesEnvelopeStructureAndLines() {
        let message = bytes(
            """
            Content-Type: message/rfc822

            Subject: inner
            From: x@y

            one
            two
            """
        )
        #expect(
            structure(message, extensions: false)
                == "(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" 37 (NIL \"inner\" ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) ((NIL NIL \"x\" \"y\")) NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 8 1) 4)"
        )
    }

    @Test func addressEdgeCases() {
        #expect(
            AddressParser.parse("\"Doe, John\" (comment) <@route.example:john@example.com>, bare@host")
                == [
                    .mailbox(name: "Doe, John", route: "@route.example", mailbox: "john", host: "example.com"),
                    .mailbox(name: nil, route: nil, mailbox: "bare", host: "host"),
                ]
        )
        #expect(AddressParser.parse("") == [])
        #expect(
            AddressParser.parse("team: a@x, b@y; c@z")
                == [
                    .groupStart("team"), .mailbox(name: nil, route: nil, mailbox: "a", host: "x"),
                    .mailbox(name: nil, route: nil, mailbox: "b", host: "y"), .groupEnd,
                    .mailbox(name: nil, route: nil, mailbox: "c", host: "z"),
                ]
        )
        #expect(
            AddressParser.parse("<local-only>") == [.mailbox(name: nil, route: nil, mailbox: "local-only", host: nil)]
        )
    }

    @Test func eightBitStringsBecomeLiterals() {
        let message = bytes("Subject: café\n\nx\n")
        #expect(envelope(message).hasPrefix("(NIL {5}\r\ncafé NIL"))
    }
}
