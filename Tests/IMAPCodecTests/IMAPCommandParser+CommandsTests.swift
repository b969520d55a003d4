import IMAPCodec
import MailCore
import MailMessage
import NIOCore
import Testing

/// The commands added for the selected state and the extensions: parse tables, BAD tables and
/// write→parse round-trips.
@Suite struct IMAPCommandParserCommandsTests {
    func parse(_ text: String) throws(IMAPParseError) -> IMAPCommand {
        try IMAPCommandParser.parse(ByteBuffer(string: text)).command
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    static func set(_ text: String) -> SequenceSet {
        let parsed = try? IMAPCommandParser.parse(ByteBuffer(string: "t UID EXPUNGE \(text)")).command
        guard case .uidExpunge(let set) = parsed else { return .lastResult }
        return set
    }
    static func flag(_ name: String) -> Flag { Flag(name)! }

    static let inbox = MailboxArgument("INBOX")

    static let table: [(String, IMAPCommand)] = [
        // SELECT / EXAMINE (RFC 7162)
        ("a SELECT INBOX (CONDSTORE)", .select(inbox, SelectParameters(condStore: true))),
        (
            "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",
            .select(
                inbox,
                SelectParameters(
                    qresync: .init(
                        uidValidity: 67_890_007,
                        modSeq: 20_050_715_194_045_000,
                        knownUIDs: set("41,43:211,214:541")
                    )
                )
            )
        ),
        (
            "a EXAMINE INBOX (QRESYNC (67890007 90060115194045000 1:29997 (5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997)))",
            .examine(
                inbox,
                SelectParameters(
                    qresync: .init(
                        uidValidity: 67_890_007,
                        modSeq: 90_060_115_194_045_000,
                        knownUIDs: set("1:29997"),
                        sequenceMatch: (
                            set("5000,7500,9000,9990:9999"),
                            set("15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997")
                        )
                    )
                )
            )
        ),
        (
            "a SELECT x (condstore QRESYNC (1 2))",
            .select(MailboxArgument("x"), SelectParameters(condStore: true, qresync: .init(uidValidity: 1, modSeq: 2)))
        ),
        // CREATE (RFC 6154)
        (
            "a CREATE MySpecial (USE (\\Drafts \\sent))",
            .create(MailboxArgument("MySpecial"), specialUse: ["\\Drafts", "\\Sent"])
        ),
        // LIST / LSUB (RFC 5258, 6154, 5819, 8440)
        ("a LIST \"\" *", .list(ListCommand(reference: [], patterns: [bytes("*")]))),
        ("a LIST ~/Mail/ %", .list(ListCommand(reference: bytes("~/Mail/"), patterns: [bytes("%")]))),
        ("a LIST \"\" foo/%/b*r", .list(ListCommand(reference: [], patterns: [bytes("foo/%/b*r")]))),
        (
            "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"Other Users/*\") RETURN (CHILDREN STATUS (MESSAGES UNSEEN) SPECIAL-USE MYRIGHTS subscribed)",
            .list(
                ListCommand(
                    reference: [],
                    patterns: [bytes("INBOX"), bytes("Other Users/*")],
                    selectOptions: [.subscribed, .recursiveMatch],
                    returnOptions: [.children, .status(["MESSAGES", "UNSEEN"]), .specialUse, .myRights, .subscribed]
                )
            )
        ),
        (
            "a LIST () \"\" {3+}\r\na b RETURN ()",
            .list(ListCommand(reference: [], patterns: [bytes("a b")], returnOptions: []))
        ),
        ("a LSUB \"#news.\" comp.mail.*", .lsub(reference: bytes("#news."), pattern: bytes("comp.mail.*"))),
        // APPEND (RFC 3502, 3516)
        (
            "a APPEND saved-messages (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {5}\r\nhello",
            .append(
                MailboxArgument("saved-messages"),
                [
                    AppendMessage(
                        flags: [.seen],
                        internalDate: "17-Jul-1996 02:44:25 -0700",
                        bytes: ByteBuffer(string: "hello")
                    )
                ]
            )
        ),
        (
            "a APPEND {5+}\r\nDraft {2+}\r\nhi \" 7-Jul-1996 02:44:25 +0000\" ~{3}\r\na\0b ($Fwd) {0}\r\n",
            .append(
                MailboxArgument("Draft"),
                [
                    AppendMessage(bytes: ByteBuffer(string: "hi")),
                    AppendMessage(
                        internalDate: " 7-Jul-1996 02:44:25 +0000",
                        bytes: ByteBuffer(bytes: [0x61, 0, 0x62])
                    ),
                    AppendMessage(flags: [flag("$Fwd")]),
                ]
            )
        ),
        // FETCH
        (
            "a FETCH 1:* ALL",
            .fetch(set("1:*"), [.flags, .internalDate, .rfc822Size, .envelope], FetchModifiers(), uid: false)
        ),
        ("a FETCH 1 fast", .fetch(set("1"), [.flags, .internalDate, .rfc822Size], FetchModifiers(), uid: false)),
        (
            "a FETCH 1 FULL",
            .fetch(
                set("1"),
                [.flags, .internalDate, .rfc822Size, .envelope, .bodyStructureNonExtensible],
                FetchModifiers(),
                uid: false
            )
        ),
        (
            "a FETCH $ BODY[]",
            .fetch(.lastResult, [.bodySection(.whole, peek: false, partial: nil)], FetchModifiers(), uid: false)
        ),
        (
            "a UID FETCH 1:5,9 (UID FLAGS BODY.PEEK[HEADER.FIELDS (From \"Subject\")]<0.2048> BODY[1.2.MIME] body[1.2.3] BODY[TEXT] BODY[2.HEADER.FIELDS.NOT (X-Spam)] BODY[3.TEXT] BODY[HEADER] BODY BODYSTRUCTURE)",
            .fetch(
                set("1:5,9"),
                [
                    .uid, .flags,
                    .bodySection(
                        MessageSection(text: .headerFields(["From", "Subject"])),
                        peek: true,
                        partial: FetchPartial(offset: 0, length: 2048)
                    ),
                    .bodySection(MessageSection(part: [1, 2], text: .mime), peek: false, partial: nil),
                    .bodySection(MessageSection(part: [1, 2, 3]), peek: false, partial: nil),
                    .bodySection(MessageSection(text: .text), peek: false, partial: nil),
                    .bodySection(
                        MessageSection(part: [2], text: .headerFieldsNot(["X-Spam"])),
                        peek: false,
                        partial: nil
                    ),
                    .bodySection(MessageSection(part: [3], text: .text), peek: false, partial: nil),
                    .bodySection(MessageSection(text: .header), peek: false, partial: nil),
                    .bodyStructureNonExtensible, .bodyStructure,
                ],
                FetchModifiers(),
                uid: true
            )
        ),
        (
            "a FETCH 2 (BINARY[1.2]<0.100> BINARY.PEEK[] BINARY.SIZE[3] RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE ENVELOPE INTERNALDATE MODSEQ EMAILID THREADID SAVEDATE)",
            .fetch(
                set("2"),
                [
                    .binary(part: [1, 2], peek: false, partial: FetchPartial(offset: 0, length: 100)),
                    .binary(part: [], peek: true, partial: nil), .binarySize(part: [3]), .rfc822, .rfc822Header,
                    .rfc822Text,
                    .rfc822Size, .envelope, .internalDate, .modSeq, .emailID, .threadID, .saveDate,
                ],
                FetchModifiers(),
                uid: false
            )
        ),
        (
            "a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
            .fetch(set("300:500"), [.flags], FetchModifiers(changedSince: 12345, vanished: true), uid: true)
        ),
        ("a FETCH 1 FLAGS (CHANGEDSINCE 0)", .fetch(set("1"), [.flags], FetchModifiers(changedSince: 0), uid: false)),
        // STORE
        (
            "a STORE 2:4 +FLAGS (\\Deleted)",
            .store(
                set("2:4"),
                unchangedSince: nil,
                StoreAction(mode: .add, silent: false, flags: [.deleted]),
                uid: false
            )
        ),
        (
            "a UID STORE 1 -flags.silent \\seen $Junk",
            .store(
                set("1"),
                unchangedSince: nil,
                StoreAction(mode: .remove, silent: true, flags: [.seen, flag("$Junk")]),
                uid: true
            )
        ),
        (
            "a STORE * (UNCHANGEDSINCE 320162338) FLAGS ()",
            .store(
                set("*"),
                unchangedSince: 320_162_338,
                StoreAction(mode: .replace, silent: false, flags: []),
                uid: false
            )
        ),
        // SEARCH
        ("a SEARCH ALL", .search(SearchCommand(key: .all), uid: false)),
        (
            "a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"",
            .search(
                SearchCommand(
                    key: .and([.flagged, .since(IMAPDate(year: 1994, month: 2, day: 1)), .not(.from(bytes("Smith")))])
                ),
                uid: false
            )
        ),
        (
            "a UID SEARCH RETURN (MIN COUNT save) CHARSET UTF-8 OR (SEEN UNDELETED) NOT (1:3 $) SUBJECT {5+}\r\ncaf\u{e9}",
            .search(
                SearchCommand(
                    returnOptions: [.min, .count, .save],
                    charset: "UTF-8",
                    key: .and([
                        .or(.and([.seen, .undeleted]), .not(.and([.sequence(set("1:3")), .sequence(.lastResult)]))),
                        .subject(bytes("café")),
                    ])
                ),
                uid: true
            )
        ),
        ("a SEARCH RETURN () 2:*", .search(SearchCommand(returnOptions: [], key: .sequence(set("2:*"))), uid: false)),
        (
            "a SEARCH CHARSET \"us-ascii\" ANSWERED",
            .search(SearchCommand(charset: "us-ascii", key: .answered), uid: false)
        ),
        (
            "a SEARCH BEFORE \"3-Mar-2026\" ON 28-feb-2026 SENTBEFORE 1-Jan-2000 SENTON 2-Jan-2000 SENTSINCE 3-Jan-2000 LARGER 100 SMALLER 9999999999",
            .search(
                SearchCommand(
                    key: .and([
                        .before(IMAPDate(year: 2026, month: 3, day: 3)), .on(IMAPDate(year: 2026, month: 2, day: 28)),
                        .sentBefore(IMAPDate(year: 2000, month: 1, day: 1)),
                        .sentOn(IMAPDate(year: 2000, month: 1, day: 2)),
                        .sentSince(IMAPDate(year: 2000, month: 1, day: 3)), .larger(100), .smaller(9_999_999_999),
                    ])
                ),
                uid: false
            )
        ),
        (
            "a SEARCH BCC b CC c TO d BODY e TEXT f HEADER X-Mailer \"\" KEYWORD $Fwd UNKEYWORD Junk UID 1,5:* NEW OLD RECENT DELETED DRAFT UNANSWERED UNDRAFT UNFLAGGED UNSEEN SEEN",
            .search(
                SearchCommand(
                    key: .and([
                        .bcc(bytes("b")), .cc(bytes("c")), .to(bytes("d")), .body(bytes("e")), .text(bytes("f")),
                        .header(name: "X-Mailer", value: []), .keyword(flag("$Fwd")), .unkeyword(flag("Junk")),
                        .uid(set("1,5:*")),
                        .new, .old, .recent, .deleted, .draft, .unanswered, .undraft, .unflagged, .unseen, .seen,
                    ])
                ),
                uid: false
            )
        ),
        (
            "a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338 MODSEQ 5 OLDER 3600 YOUNGER 60 EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9",
            .search(
                SearchCommand(
                    key: .and([
                        .modSeq(620_162_338), .modSeq(5), .older(3600), .younger(60), .emailID("M6d99ac3275bb4e"),
                        .threadID("T64b478a75b7ea9"),
                    ])
                ),
                uid: false
            )
        ),
        // COPY / MOVE
        ("a COPY 2:4 MEETING", .copy(set("2:4"), MailboxArgument("MEETING"), uid: false)),
        ("a UID MOVE 42 \"Junk Mail\"", .move(set("42"), MailboxArgument("Junk Mail"), uid: true)),
        ("a uid copy $ inbox", .copy(.lastResult, inbox, uid: true)),
        // COMPRESS, ACL, QUOTA, METADATA
        ("a COMPRESS deflate", .compress("DEFLATE")),
        ("a GETACL INBOX", .getACL(inbox)),
        ("a SETACL INBOX Fred +rwipslxetad", .setACL(inbox, identifier: bytes("Fred"), rights: bytes("+rwipslxetad"))),
        (
            "a SETACL \"a b\" \"-anyone\" \"\"",
            .setACL(MailboxArgument("a b"), identifier: bytes("-anyone"), rights: [])
        ),
        ("a DELETEACL INBOX Chris", .deleteACL(inbox, identifier: bytes("Chris"))),
        ("a LISTRIGHTS ~/Mail/saved smith", .listRights(MailboxArgument("~/Mail/saved"), identifier: bytes("smith"))),
        ("a MYRIGHTS INBOX", .myRights(inbox)),
        ("a GETQUOTA \"\"", .getQuota(root: [])),
        ("a GETQUOTAROOT INBOX", .getQuotaRoot(inbox)),
        (
            "a SETQUOTA \"\" (STORAGE 512 message 1000)",
            .setQuota(
                root: [],
                limits: [QuotaLimit(resource: "STORAGE", limit: 512), QuotaLimit(resource: "MESSAGE", limit: 1000)]
            )
        ),
        ("a SETQUOTA #user/alice ()", .setQuota(root: bytes("#user/alice"), limits: [])),
        (
            "a GETMETADATA \"\" /shared/comment",
            .getMetadata(MailboxArgument(""), options: MetadataOptions(), entries: ["/shared/comment"])
        ),
        (
            "a GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX (/shared/comment \"/private/comment\")",
            .getMetadata(
                inbox,
                options: MetadataOptions(maxSize: 1024, depth: .infinity),
                entries: ["/shared/comment", "/private/comment"]
            )
        ),
        (
            "a GETMETADATA INBOX (DEPTH 1) (/private/filters/values)",
            .getMetadata(inbox, options: MetadataOptions(depth: .one), entries: ["/private/filters/values"])
        ),
        (
            "a SETMETADATA INBOX (/private/comment \"My comment\" /shared/x NIL /shared/bin ~{2}\r\n\0\u{1})",
            .setMetadata(
                inbox,
                entries: [
                    MetadataEntry(name: "/private/comment", value: bytes("My comment")),
                    MetadataEntry(name: "/shared/x", value: nil),
                    MetadataEntry(name: "/shared/bin", value: [0, 1]),
                ]
            )
        ),
    ]

    @Test func parsesEveryCommand() throws {
        for (line, expected) in Self.table {
            let parsed: IMAPCommand
            do {
                parsed = try parse(line)
            } catch {
                Issue.record("\(line): \(error.text)")
                continue
            }
            #expect(parsed == expected, "\(line)")
        }
    }

    /// What a client writes parses back to the same command, and writing is stable.
    @Test func everyCommandRoundTrips() throws {
        for (_, command) in Self.table {
            var wire = ByteBuffer()
            TaggedCommand(tag: "c1", command: command).write(into: &wire)
            let text = String(buffer: wire)
            #expect(text.hasSuffix("\r\n"))
            wire.moveWriterIndex(to: wire.writerIndex - 2)
            let parsed: TaggedCommand
            do {
                parsed = try IMAPCommandParser.parse(wire)
            } catch {
                Issue.record("\(text): \(error.text)")
                continue
            }
            #expect(parsed == TaggedCommand(tag: "c1", command: command), "\(text)")
        }
    }

    @Test func writerUsesTheWireForms() {
        func written(_ command: IMAPCommand) -> String {
            var buffer = ByteBuffer()
            TaggedCommand(tag: "t", command: command).write(into: &buffer)
            return String(buffer: buffer)
        }
        #expect(
            written(
                .fetch(
                    Self.set("1:*"),
                    [
                        .bodySection(
                            MessageSection(part: [1], text: .headerFields(["A B"])),
                            peek: true,
                            partial: FetchPartial(offset: 5, length: 10)
                        )
                    ],
                    FetchModifiers(changedSince: 7),
                    uid: true
                )
            )
                == "t UID FETCH 1:* (BODY.PEEK[1.HEADER.FIELDS (\"A B\")]<5.10>) (CHANGEDSINCE 7)\r\n"
        )
        #expect(
            written(.search(SearchCommand(key: .or(.not(.and([.seen, .flagged])), .and([.answered]))), uid: false))
                == "t SEARCH OR NOT (SEEN FLAGGED) (ANSWERED)\r\n"
        )
        #expect(
            written(
                .store(
                    Self.set("1"),
                    unchangedSince: 9,
                    StoreAction(mode: .add, silent: true, flags: [.seen]),
                    uid: false
                )
            )
                == "t STORE 1 (UNCHANGEDSINCE 9) +FLAGS.SILENT (\\Seen)\r\n"
        )
        #expect(
            written(
                .append(
                    Self.inbox,
                    [
                        AppendMessage(flags: [.draft], bytes: ByteBuffer(string: "x")),
                        AppendMessage(bytes: ByteBuffer(bytes: [0])),
                    ]
                )
            )
                == "t APPEND INBOX (\\Draft) {1}\r\nx ~{1}\r\n\0\r\n"
        )
    }

    /// Forms the mutation fuzzing found writing back to something unparsable.
    @Test func writerRegressions() throws {
        func written(_ command: IMAPCommand) -> String {
            var buffer = ByteBuffer()
            TaggedCommand(tag: "t", command: command).write(into: &buffer)
            return String(buffer: buffer)
        }
        // charset = atom / quoted: "]" is an astring character but not an atom character.
        #expect(
            written(.search(SearchCommand(charset: "]x", key: .all), uid: false)) == "t SEARCH CHARSET \"]x\" ALL\r\n"
        )
        // Only literal8 may carry NUL.
        #expect(written(.getQuota(root: [0])) == "t GETQUOTA ~{1}\r\n\0\r\n")
        // date-year = 4DIGIT
        #expect(
            written(.search(SearchCommand(key: .on(IMAPDate(year: 33, month: 1, day: 2))), uid: false))
                == "t SEARCH ON 2-Jan-0033\r\n"
        )
        #expect(try parse("a LIST \"\" \"\"") == .list(ListCommand(reference: [], patterns: [[]])))
    }

    @Test(arguments: [
        ("a SELECT INBOX (BOGUS)", "unknown SELECT parameter BOGUS"),
        ("a SELECT INBOX ()", "expected an atom"),
        ("a SELECT INBOX (QRESYNC (0 5))", "non-zero"),
        ("a SELECT INBOX (QRESYNC (1))", "expected a space"),
        ("a CREATE x (USE (Drafts))", "special-use attributes start with \\"),
        ("a CREATE x (FOO (\\Drafts))", "unknown CREATE parameter FOO"),
        ("a LIST \"\"", "expected a space"),
        ("a LIST (BOGUS) \"\" *", "unknown LIST selection option BOGUS"),
        ("a LIST (RECURSIVEMATCH) \"\" *", "RECURSIVEMATCH needs another selection option"),
        ("a LIST \"\" * RETURN (NOPE)", "unknown LIST return option NOPE"),
        ("a LIST \"\" * RETURN (STATUS (FOO))", "unknown STATUS item FOO"),
        ("a LIST \"\" * EXTRA", "expected RETURN after LIST"),
        ("a LIST \"\" ()", "expected a mailbox pattern"),
        ("a APPEND INBOX \"hello\"", "expected a date-time"),
        ("a APPEND INBOX (\\Seen)", "expected a flag list, a date-time or the message literal"),
        ("a APPEND INBOX (\\Recent) {1}\r\nx", "invalid flag \\Recent"),
        ("a APPEND INBOX \"32-Jul-1996 02:44:25 -0700\" x", "message as a literal"),
        ("a APPEND INBOX \"17-Jux-1996 02:44:25 -0700\" {1}\r\nx", "expected a date-time"),
        ("a FETCH 1", "expected a space"),
        ("a FETCH 1 (FLAGS", "expected ) after FETCH attributes"),
        ("a FETCH 1 BODY.PEEK", "BODY.PEEK needs a section"),
        ("a FETCH 1 BODY[MIME]", "MIME needs a part number"),
        ("a FETCH 1 BODY[1.]", "unknown section text"),
        ("a FETCH 1 BODY[0]", "non-zero"),
        ("a FETCH 1 BODY[HEADER.FIELDS]", "expected a space"),
        ("a FETCH 1 BODY[HEADER.FIELDS ()]", "expected an astring"),
        ("a FETCH 1 BODY[FOO]", "unknown section FOO"),
        ("a FETCH 1 BODY[]<1>", "partial needs <offset.length>"),
        ("a FETCH 1 BODY[]<1.0>", "non-zero"),
        ("a FETCH 1 BINARY[TEXT]", "expected a number"), ("a FETCH 1 BINARY[1 ]", "expected ] after BINARY section"),
        ("a FETCH 1 BINARY", "BINARY needs a section"),
        ("a FETCH 1 FROB", "unknown FETCH attribute FROB"),
        ("a FETCH 1 FLAGS (VANISHED)", "VANISHED needs UID FETCH with CHANGEDSINCE"),
        ("a UID FETCH 1 FLAGS (VANISHED)", "VANISHED needs UID FETCH with CHANGEDSINCE"),
        ("a FETCH 1 FLAGS (CHANGEDSINCE 99999999999999999999)", "63-bit"),
        ("a FETCH 1 FLAGS (PRIORITY)", "unknown FETCH modifier PRIORITY"),
        ("a STORE 1 +LABELS (x)", "STORE changes FLAGS, not LABELS"),
        ("a STORE 1 FLAGS (\\Bogus)", "invalid flag \\Bogus"),
        ("a STORE 1 (UNCHANGEDSINCE x) FLAGS ()", "63-bit"),
        ("a STORE 1 (FOO 1) FLAGS ()", "unknown STORE modifier"),
        ("a SEARCH", "expected a space"),
        ("a SEARCH FOO", "unknown search key FOO"),
        ("a SEARCH SINCE 1-Foo-2000", "expected a date like"),
        ("a SEARCH SINCE 32-Jan-2000", "expected a date like"),
        ("a SEARCH SINCE \"1-Jan-2000", "expected a date like"),
        ("a SEARCH OR SEEN", "expected a space"),
        ("a SEARCH (SEEN", "expected ) after search keys"),
        ("a SEARCH NOT", "expected a space"),
        ("a SEARCH RETURN (FIRST) ALL", "unknown SEARCH return option FIRST"),
        ("a SEARCH KEYWORD \\Seen", "expected an atom"),
        ("a SEARCH MODSEQ \"/x\" all 5", "MODSEQ entry must be /flags/"),
        ("a SEARCH MODSEQ \"/flags/x\" some 5", "MODSEQ entry type some"),
        ("a SEARCH EMAILID !", "EMAILID needs an object id"),
        ("a SEARCH OLDER 0", "non-zero"),
        ("a SEARCH " + String(repeating: "NOT ", count: 40) + "ALL", "nested deeper than 32"),
        (
            "a SEARCH " + String(repeating: "(", count: 40) + "ALL" + String(repeating: ")", count: 40),
            "nested deeper than 32"
        ),
        ("a COPY 1", "expected a space"),
        ("a UID FROB 1", "unknown command UID FROB"),
        ("a SETACL INBOX fred", "expected a space"),
        ("a SETQUOTA \"\" (STORAGE)", "expected a space"),
        ("a SETQUOTA \"\" STORAGE 1", "SETQUOTA needs a parenthesised list"),
        ("a GETMETADATA INBOX comment", "metadata entries start with /"),
        ("a GETMETADATA (DEPTH 2) INBOX /a", "DEPTH must be 0, 1 or infinity"),
        ("a GETMETADATA (COLOR 2) INBOX /a", "unknown GETMETADATA option COLOR"),
        ("a SETMETADATA INBOX (/a)", "expected a space"),
        ("a SETMETADATA INBOX /a \"x\"", "expected ( before metadata entries"),
        ("a COMPRESS", "expected a space"),
    ])
    func malformedCommandsSayWhy(_ line: String, _ fragment: String) {
        do {
            let command = try parse(line)
            Issue.record("\(line) parsed as \(command.name)")
        } catch {
            #expect(error.text.contains(fragment), "\(line): \(error.text)")
        }
    }
}
