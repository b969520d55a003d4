import IMAPCodec
import MailCore
import NIOCore
import PropertyBased
import Testing

@Suite struct IMAPCommandParserTests {
    func parse(_ text: String) throws(IMAPParseError) -> TaggedCommand {
        try IMAPCommandParser.parse(ByteBuffer(string: text))
    }

    @Test func parsesTheSupportedCommands() throws {
        let table: [(String, IMAPCommand)] = [
            ("a CAPABILITY", .capability), ("a noop", .noop), ("a LOGOUT", .logout), ("a STARTTLS", .startTLS),
            ("a LOGIN alice secret", .login(user: Array("alice".utf8), password: Array("secret".utf8))),
            ("a LOGIN \"al ice\" {4}\r\np\"w\\", .login(user: Array("al ice".utf8), password: Array("p\"w\\".utf8))),
            ("a AUTHENTICATE PLAIN", .authenticate(mechanism: "PLAIN", initialResponse: nil)),
            (
                "a AUTHENTICATE plain AGFsaWNlAHNlY3JldA==",
                .authenticate(mechanism: "PLAIN", initialResponse: Array("\0alice\0secret".utf8))
            ),
            ("a AUTHENTICATE PLAIN =", .authenticate(mechanism: "PLAIN", initialResponse: [])),
            ("a ENABLE CONDSTORE qresync", .enable(["CONDSTORE", "QRESYNC"])),
            ("a SELECT inbox", .select(MailboxArgument("INBOX"), SelectParameters())),
            ("a SELECT \"Archive/2026\"", .select(MailboxArgument("Archive/2026"), SelectParameters())),
            ("a EXAMINE Sent", .examine(MailboxArgument("Sent"), SelectParameters())),
            ("a CREATE {5+}\r\nCaf\u{e9}", .create(MailboxArgument("Café"), specialUse: [])),
            ("a DELETE Trash", .delete(MailboxArgument("Trash"))),
            ("a RENAME Old New", .rename(from: MailboxArgument("Old"), to: MailboxArgument("New"))),
            ("a SUBSCRIBE Lists", .subscribe(MailboxArgument("Lists"))),
            ("a UNSUBSCRIBE Lists", .unsubscribe(MailboxArgument("Lists"))),
            (
                "a STATUS INBOX (MESSAGES uidnext UNSEEN)",
                .status(MailboxArgument("INBOX"), items: ["MESSAGES", "UIDNEXT", "UNSEEN"])
            ),
            ("a NAMESPACE", .namespace), ("a IDLE", .idle), ("a CHECK", .check), ("a CLOSE", .close),
            ("a UNSELECT", .unselect), ("a EXPUNGE", .expunge),
            ("a ID NIL", .id(nil)),
            (
                "a ID (\"name\" \"mutt\" \"version\" NIL)",
                .id([(Array("name".utf8), Array("mutt".utf8)), (Array("version".utf8), nil)])
            ),
            (
                "a UID EXPUNGE 1:3,7,9:*",
                .uidExpunge(
                    .ranges([
                        SequenceRange(.number(1), .number(3)), SequenceRange(.number(7), .number(7)),
                        SequenceRange(.number(9), .last),
                    ])
                )
            ),
        ]
        for (line, expected) in table {
            let parsed = try parse(line)
            #expect(parsed.tag == "a")
            #expect(parsed.command == expected, "\(line)")
        }
    }

    /// Client lines recorded from real clients against Cyrus 3.6 (../shared/fixtures).
    @Test(arguments: [
        "3 NAMESPACE", "5 SELECT \"INBOX\"", "15 LOGOUT", "IACO6 CAPABILITY", "IACO9 SELECT Archive2",
        "IACO11 EXAMINE Archive2",
    ])
    func parsesRealClientLines(_ line: String) throws {
        _ = try parse(line)
    }

    @Test(arguments: [
        "", "a", "a ", "+ NOOP", "a NOOP extra", "a LOGIN alice", "a LOGIN \"unterminated", "a SELECT",
        "a STATUS INBOX MESSAGES", "a STATUS INBOX (BOGUS)", "a ENABLE", "a UID EXPUNGE 0", "a UID EXPUNGE 1:",
        "a AUTHENTICATE PLAIN !!!", "a LOGIN {5}\r\nab", "a LOGIN \"a\r\nb\" c", "a ID (\"k\")",
    ])
    func malformedCommandsAreSyntaxErrors(_ line: String) {
        #expect(throws: IMAPParseError.self) { try parse(line) }
    }

    @Test func unknownCommandsAreNamed() {
        #expect(throws: IMAPParseError.unknownCommand("XYZZY")) { try parse("a XYZZY") }
        #expect(IMAPCommandParser.tag(of: ByteBuffer(string: "t1 XYZZY")) == "t1")
        #expect(IMAPCommandParser.tag(of: ByteBuffer(string: "(bad")) == nil)
    }

    @Test func sequenceSetsResolveStar() throws {
        guard case .uidExpunge(let set) = try parse("a UID EXPUNGE 5:*,2").command else {
            Issue.record("not a UID EXPUNGE")
            return
        }
        #expect(set.resolved(largest: 8)?.description == "2,5:8")
        #expect(set.resolved(largest: 3)?.description == "2:5")
        #expect(set.resolved(largest: 0)?.description == "2")
    }

    /// Anything a client can write, through the framer byte by byte, parses back to itself.
    @Test func writtenCommandsRoundTripThroughFramerAndParser() async {
        let bytes = Gen.element(of: Array("aZ0 .\"\\{}()%*]\u{7f}é\r\n+~".utf8)).map { $0 ?? 0x61 }.array(of: 0...24)
        await propertyCheck(input: bytes, bytes, Gen.int(in: 1...9)) { first, second, chunk in
            let commands: [IMAPCommand] = [
                .login(user: first, password: second),
                .select(MailboxArgument(first.isEmpty ? Array("x".utf8) : first), SelectParameters()),
                .rename(from: MailboxArgument(second + [0x61]), to: MailboxArgument(first + [0x62])),
                .id([(first, second), (second, nil)]),
            ]
            for command in commands {
                var wire = ByteBuffer()
                TaggedCommand(tag: "t7", command: command).write(into: &wire)
                var decoder = IMAPFrameDecoder()
                var frames: [ByteBuffer] = []
                var input = ByteBuffer()
                let all = Array(wire.readableBytesView)
                var offset = 0
                while offset < all.count {
                    input.writeBytes(all[offset..<min(offset + chunk, all.count)])
                    offset += chunk
                    for event in decoder.decode(&input) {
                        if case .command(let frame) = event { frames.append(frame) }
                    }
                }
                #expect(frames.count == 1)
                #expect(
                    frames.first.flatMap { try? IMAPCommandParser.parse($0) }
                        == TaggedCommand(tag: "t7", command: command)
                )
            }
        }
    }
}

@Suite struct IMAPResponseTests {
    func text(_ response: IMAPResponse) -> String {
        var buffer = ByteBuffer()
        response.write(into: &buffer)
        return String(buffer: buffer)
    }

    @Test func encodesStatusResponsesWithCodes() {
        #expect(
            text(.tagged(tag: "a1", status: .ok, code: .readWrite, text: "SELECT completed"))
                == "a1 OK [READ-WRITE] SELECT completed\r\n"
        )
        #expect(
            text(.tagged(tag: "a2", status: .no, code: .overQuota, text: "Over quota"))
                == "a2 NO [OVERQUOTA] Over quota\r\n"
        )
        #expect(
            text(.untaggedStatus(status: .ok, code: .uidValidity(3_857_529_045), text: "UIDs valid"))
                == "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
        )
        #expect(
            text(.untaggedStatus(status: .ok, code: .permanentFlags(["\\Seen", "\\*"]), text: "Limited"))
                == "* OK [PERMANENTFLAGS (\\Seen \\*)] Limited\r\n"
        )
        #expect(
            text(
                .tagged(
                    tag: "a3",
                    status: .ok,
                    code: .appendUID(uidValidity: 38505, uids: "3955"),
                    text: "APPEND completed"
                )
            ) == "a3 OK [APPENDUID 38505 3955] APPEND completed\r\n"
        )
        #expect(text(.untagged("3 EXISTS")) == "* 3 EXISTS\r\n")
        #expect(text(.continuation("go ahead")) == "+ go ahead\r\n")
        #expect(text(.tagged(tag: "a4", status: .bad, code: nil, text: "")) == "a4 BAD done\r\n")
    }

    @Test func textCannotInjectLines() {
        #expect(
            text(.tagged(tag: "a1", status: .bad, code: nil, text: "bad\r\n* OK fake")) == "a1 BAD bad  * OK fake\r\n"
        )
    }
}

@Suite struct UIDSequenceAndWriterTests {
    @Test func astringChoosesTheCheapestRoundTrippingForm() {
        func written(_ text: [UInt8]) -> String {
            var buffer = ByteBuffer()
            IMAPWriter.writeAString(text, into: &buffer)
            return String(decoding: buffer.readableBytesView, as: UTF8.self)
        }
        #expect(written(Array("INBOX".utf8)) == "INBOX")
        #expect(written(Array("two words".utf8)) == "\"two words\"")
        #expect(
            written(Array("say \"hi\"".utf8)) == "{8}\r\nsay \"hi\"",
            "escapes become literals, as Cyrus sends them"
        )
        #expect(written([]) == "\"\"")
        #expect(written(Array("Café".utf8)) == "{5}\r\nCafé")
    }

    @Test func base64RoundTrips() async {
        await propertyCheck(input: Gen.uint8().array(of: 0...40)) { bytes in
            #expect(Base64.decode(Array(Base64.encode(bytes).utf8)) == bytes)
        }
        #expect(Base64.decode(Array("abc".utf8)) == nil)
        #expect(Base64.decode(Array("ab=c".utf8)) == nil)
    }
}
