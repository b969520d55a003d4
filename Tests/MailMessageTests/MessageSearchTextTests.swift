import MailMessage
import Testing

@Suite struct MessageSearchTextHeaderTests {
    static func search(_ text: String) -> MessageSearchText {
        MessageSearchText(Array(text.replacing("\n", with: "\r\n").utf8))
    }

    let message = Self.search(
        """
        From: =?iso-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.org>
        To: "Bob Smith" <bob@example.org>,
         carol@example.net
        Subject: =?utf-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=
         and more
        X-Empty:
        Date: Mon, 23 Nov 2026 23:59:00 -0800

        body text
        """
    )

    @Test func encodedWordSubjects() {
        #expect(message.headerContains(field: "SUBJECT", "grüße aus köln and"))
        #expect(message.headerContains(field: "subject", "GRÜßE"))
        #expect(!message.headerContains(field: "subject", "GRÜSSE"), "ß is not expanded to SS")
        #expect(!message.headerContains(field: "subject", "R3LD"), "the encoded form is not searched")
    }

    @Test func addressFieldsHoldNamesAndAddresses() {
        #expect(message.headerContains(field: "From", "jörg müller"))
        #expect(message.headerContains(field: "FROM", "JOERG@EXAMPLE"))
        #expect(message.headerContains(field: "to", "bob smith"))
        #expect(message.headerContains(field: "to", "carol@example.net"), "continuation lines are unfolded")
        #expect(!message.headerContains(field: "cc", "bob"))
    }

    @Test func emptyNeedleMatchesAnyMessageWithTheField() {
        #expect(message.headerContains(field: "X-Empty", ""))
        #expect(message.headerContains(field: "subject", ""))
        #expect(!message.headerContains(field: "X-Absent", ""))
    }

    @Test func fieldNameIsNotSearched() {
        #expect(!message.headerContains(field: "subject", "subject"))
        #expect(message.textContains("subject: grüße"), "TEXT searches whole fields")
    }

    @Test func sentDateIsTheDateAsWritten() {
        // 23:59 at -0800 is already the 24th in UTC; SENTON compares the date as written.
        #expect(message.sentDate == CalendarDay(year: 2026, month: 11, day: 23))
    }

    @Test func needlesAreFoldedOnce() {
        let needle = SearchString("KÖLN")
        #expect(message.headerContains(field: "subject", needle))
        #expect(!message.bodyContains(needle))
        #expect(message.textContains(needle))
    }
}

@Suite struct MessageSearchTextBodyTests {
    static func search(_ text: String) -> MessageSearchText {
        MessageSearchText(Array(text.replacing("\n", with: "\r\n").utf8))
    }

    let multipart = Self.search(
        """
        Subject: parts
        Content-Type: multipart/mixed; boundary=b

        preamble is not text
        --b
        Content-Type: text/plain; charset=iso-8859-1
        Content-Transfer-Encoding: quoted-printable

        Sch=F6ne Gr=FC=DFe aus K=F6ln, soft=
        broken
        --b
        Content-Type: text/html; charset=utf-8
        Content-Transfer-Encoding: base64

        PHA+U2Now7ZuZW4gVGFnIG5vY2g8L3A+
        --b
        Content-Type: application/octet-stream
        Content-Transfer-Encoding: base64

        c2VjcmV0IGF0dGFjaG1lbnQ=
        --b
        Content-Type: application/pdf

        plain attachment words
        --b
        Content-Type: message/rfc822

        Subject: attached mail header

        attached mail body
        --b--
        """
    )

    @Test func quotedPrintableISO88591() {
        #expect(multipart.bodyContains("schöne grüße"))
        #expect(multipart.bodyContains("GRÜßE AUS KÖLN"))
        #expect(multipart.bodyContains("softbroken"), "soft line break removed")
        #expect(!multipart.bodyContains("Sch=F6ne"))
    }

    @Test func base64UTF8() {
        #expect(multipart.bodyContains("SCHÖNEN TAG"))
        #expect(multipart.bodyContains("<p>"), "HTML is searched as it stands")
    }

    @Test func attachmentsAreNotText() {
        #expect(!multipart.bodyContains("secret"))
        #expect(!multipart.bodyContains("c2VjcmV0"))
        #expect(!multipart.bodyContains("plain attachment"))
        #expect(!multipart.bodyContains("preamble"))
    }

    @Test func attachedMessagesBodiesAreSearched() {
        #expect(multipart.bodyContains("attached mail body"))
        #expect(!multipart.bodyContains("attached mail header"))
    }

    @Test func matchesDoNotSpanParts() {
        #expect(!multipart.bodyContains("broken<p>"))
    }

    @Test func textIsHeaderOrBody() {
        #expect(multipart.textContains("PARTS"))
        #expect(multipart.textContains("köln"))
        #expect(!multipart.textContains("secret"))
    }

    @Test func nonMIMEMessageIsText() {
        let message = Self.search("Subject: x\n\nHello WORLD, Ünïcödé")
        #expect(message.bodyContains("hello world"))
        #expect(message.bodyContains("ÜNÏCÖDÉ"))
        #expect(!message.bodyContains("subject"))
        #expect(message.bodyContains(""))
    }

    @Test func latin1Body() {
        var bytes = Array("Content-Type: text/plain; charset=ISO-8859-1\r\n\r\nGr".utf8)
        bytes += [0xFC, 0xDF, 0x65]
        let message = MessageSearchText(bytes)
        #expect(message.bodyContains("GRÜßE"))
    }

    @Test func windows1252Body() {
        var bytes = Array("Content-Type: text/plain; charset=windows-1252\r\n\r\n".utf8)
        bytes += [0x8A, 0x6B, 0x6F, 0x64, 0x61, 0x20, 0x93, 0xC9, 0x54, 0xC9, 0x94]  // Škoda “ÉTÉ”
        let message = MessageSearchText(bytes)
        #expect(message.bodyContains("škoda \u{201C}été\u{201D}"))
    }

    @Test func invalidUTF8IsSearchedAroundTheDamage() {
        let bytes = Array("Subject: x\r\n\r\nbefore ".utf8) + [0xFF, 0xC3] + Array(" AFTER".utf8)
        let message = MessageSearchText(bytes)
        #expect(message.bodyContains("before"))
        #expect(message.bodyContains("after"))
        #expect(message.bodyContains("\u{FFFD}"))
    }

    @Test func eightBitUTF8Body() {
        let message = Self.search(
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nÀ BIENTÔT"
        )
        #expect(message.bodyContains("à bientôt"))
        #expect(!message.bodyContains("a bientot"), "no accent folding")
    }

    @Test func base64TextWithoutCharset() {
        let message = Self.search("Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8g\nV29ybGQ=\n")
        #expect(message.bodyContains("hello world"))
    }

    @Test func nonTextTopLevelHasNoBody() {
        let message = Self.search("Content-Type: image/png\n\nPNG words")
        #expect(!message.bodyContains("png"))
        #expect(message.headerContains(field: "content-type", "IMAGE/PNG"))
    }

    @Test func manyMessagesQuickly() {
        // A guard against accidental quadratic work, not a benchmark: 1,000 x 4 KiB.
        let line = "The quick brown fox jumps over the lazy dog, grüße aus Köln.\r\n"
        let text = "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nFrom: a@b\r\n\r\n" + String(repeating: line, count: 64)
        let bytes = Array(text.utf8)
        let needle = SearchString("not there at all")
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for _ in 0..<1000 {
                let message = MessageSearchText(bytes)
                #expect(!message.textContains(needle))
            }
        }
        #expect(elapsed < .seconds(10))
    }
}

@Suite struct CalendarDayTests {
    @Test(arguments: [
        ("Mon, 23 Nov 2026 14:26:15 +0000", CalendarDay(year: 2026, month: 11, day: 23)),
        ("23 Nov 2026 14:26 -0500", CalendarDay(year: 2026, month: 11, day: 23)),
        ("Tue,  1 Jan 2030 00:00:00 +1400 (comment)", CalendarDay(year: 2030, month: 1, day: 1)),
        ("(early) Fri, 05 dec 97 10:00:00 GMT", CalendarDay(year: 1997, month: 12, day: 5)),
        ("5 Dec 03 10:00 EST", CalendarDay(year: 2003, month: 12, day: 5)),
        ("5 Dec 103 10:00 EST", CalendarDay(year: 2003, month: 12, day: 5)),
        ("Thursday, 9 January 2025 08:00 +0100", CalendarDay(year: 2025, month: 1, day: 9)),
        ("Mon, 23-Nov-2026 14:26:15 +0000", CalendarDay(year: 2026, month: 11, day: 23)),
        ("Mon Nov 23 14:26:15 2026", CalendarDay(year: 2026, month: 11, day: 23)),
    ])
    func parses(_ value: String, _ expected: CalendarDay) {
        #expect(CalendarDay(rfc5322DateTime: value) == expected)
    }

    @Test(arguments: ["", "garbage", "32 Nov 2026", "23 Foo 2026", "Mon, 23 Nov", "23 Nov 20266", "0 Nov 2026"])
    func rejects(_ value: String) {
        #expect(CalendarDay(rfc5322DateTime: value) == nil)
    }

    @Test func ordersByDate() {
        #expect(CalendarDay(year: 2026, month: 1, day: 31) < CalendarDay(year: 2026, month: 2, day: 1))
        #expect(MessageHeader(parsing: Array("Subject: no date\r\n\r\n".utf8)).sentDate == nil)
    }
}
