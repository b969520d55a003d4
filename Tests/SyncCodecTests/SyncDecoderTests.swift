import MailCore
import NIOCore
import SyncCodec
import Testing

/// Commands and responses decode to the expected values, and the accessors read them as
/// Cyrus's handlers do.
@Suite struct SyncDecoderTests {
    @Test func getAndApplyCarryOneKeyedItem() throws {
        #expect(SyncTestSupport.command("GET USER alice") == .get(.init("USER", .string("alice"))))
        #expect(
            SyncTestSupport.command("get mailboxes (user.alice user.alice.Sent)")
                == .get(.init("MAILBOXES", .list([.string("user.alice"), .string("user.alice.Sent")])))
        )
        #expect(
            SyncTestSupport.command("APPLY UNMAILBOX user.x.Trash")
                == .apply(.init("UNMAILBOX", .string("user.x.Trash")))
        )
        #expect(SyncTestSupport.command("APPLY FORCE %()") == .apply(.init("FORCE", .kvlist([]))))
        #expect(
            SyncTestSupport.command("RESTORE MAILBOX %(A 1)")
                == .restore(.init("MAILBOX", .kvlist([.init("A", .number(1))])))
        )
        #expect(SyncTestSupport.command("GET ANNOTATION \"\"") == .get(.init("ANNOTATION", .string(""))))
        // Bare LF ends a command too (§1.4).
        let events = SyncTestSupport.decode(Array("NOOP\nEXIT\n".utf8), role: .replica)
        #expect(SyncTestSupport.commands(events) == [.noop, .exit])
    }

    @Test func plainCommands() {
        #expect(SyncTestSupport.command("NOOP") == .noop)
        #expect(SyncTestSupport.command("restart") == .restart)
        #expect(SyncTestSupport.command("Exit") == .exit)
        #expect(SyncTestSupport.command("STARTTLS") == .startTLS)
        #expect(SyncTestSupport.command("COMPRESS DEFLATE") == .compress(algorithm: "DEFLATE"))
        #expect(
            SyncTestSupport.command("AUTHENTICATE PLAIN AHJlcGx1c2VyAHNlY3JldA==")
                == .authenticate(mechanism: "PLAIN", initialResponse: "AHJlcGx1c2VyAHNlY3JldA==")
        )
        #expect(
            SyncTestSupport.command("AUTHENTICATE PLAIN =") == .authenticate(mechanism: "PLAIN", initialResponse: "")
        )
        #expect(
            SyncTestSupport.command("AUTHENTICATE PLAIN") == .authenticate(mechanism: "PLAIN", initialResponse: nil)
        )
    }

    @Test func valuesAndAccessors() throws {
        let line =
            "APPLY MAILBOX %(UNIQUEID u5298fpmemrf8j6ekg2324b0 MBOXNAME user.alice SYNC_CRC 2501713581 "
            + "HIGHESTMODSEQ 18446744073709551615 ACL \"alice\tlrswipkxtecdan\t\" OPTIONS \"\" Z 007 BIG 18446744073709551616 "
            + "RECORD (%(UID 1 FLAGS (\\Seen $Custom) GUID 5E700F531DD4F657FFDDB5ECDEC9CB52A4464033 "
            + "ANNOTATIONS (%(ENTRY /comment USERID \"\" VALUE {4+}\r\na\0b\n)))) N NIL UID 2)"
        guard case .apply(let item) = try #require(SyncTestSupport.command(line)) else {
            Issue.record("not an APPLY")
            return
        }
        let mailbox = item.value
        #expect(item.key == "MAILBOX")
        #expect(mailbox.text(for: "UNIQUEID") == "u5298fpmemrf8j6ekg2324b0")
        #expect(mailbox["SYNC_CRC"] == .number(2_501_713_581))
        #expect(mailbox.number32(for: "SYNC_CRC") == 2_501_713_581)
        #expect(mailbox.number(for: "HIGHESTMODSEQ") == UInt64.max)
        #expect(mailbox.number32(for: "HIGHESTMODSEQ") == nil)
        #expect(mailbox.text(for: "ACL") == "alice\tlrswipkxtecdan\t")
        #expect(mailbox.text(for: "OPTIONS") == "")
        #expect(mailbox["Z"] == .string("007"))
        #expect(mailbox.number(for: "Z") == 7)
        #expect(mailbox["BIG"] == .string("18446744073709551616"))
        #expect(mailbox.number(for: "BIG") == nil)
        #expect(mailbox["N"] == .null)
        #expect(mailbox.text(for: "N") == nil)
        #expect(mailbox.number(for: "UID") == 2)
        #expect(mailbox["uid"] == nil, "keys are case-sensitive")
        let record = try #require(mailbox.list(for: "RECORD")?.first)
        #expect(record.list(for: "FLAGS") == [.flag("\\Seen"), .string("$Custom")])
        #expect(record.guid(for: "GUID") == MessageGUID(hex: "5e700f531dd4f657ffddb5ecdec9cb52a4464033"))
        let annotation = try #require(record.list(for: "ANNOTATIONS")?.first)
        #expect(annotation["VALUE"] == .literal([0x61, 0, 0x62, 0x0A]))
        #expect(annotation["VALUE"]?.bytesValue == [0x61, 0, 0x62, 0x0A])
        #expect(annotation.text(for: "VALUE") == nil, "NUL is not allowed in a string field")
        #expect(annotation.kvlistValue?.count == 3)
        let flags = SyncSystemFlags.parse(record.list(for: "FLAGS") ?? [])
        #expect(flags.system == .seen)
        #expect(flags.user == ["$Custom"])
    }

    @Test func systemFlagsReadCaseInsensitivelyAndWriteInCyrusOrder() {
        let parsed = SyncSystemFlags.parse([
            .flag("\\SEEN"), .flag("\\expunged"), .flag("\\Recent"), .flag("\\Whatever"), .flag("\\deleted"),
            .string("$Label1"),
        ])
        #expect(parsed.system == [.seen, .expunged, .deleted])
        #expect(parsed.user == ["$Label1"])
        #expect(
            SyncSystemFlags.all.flagsList(userFlags: ["custom_kw"]).description
                == "(\\Deleted \\Answered \\Flagged \\Draft \\Expunged \\Seen custom_kw)"
        )
    }

    @Test func responses() {
        let wire = """
            * SASL PLAIN LOGIN\r
            * COMPRESS DEFLATE\r
            * SIEVE-MAILBOX\r
            * OK cyrus-replica Cyrus sync server 3.6.1\r
            * MISSING (6cde83a0be6945226dc22cf647c994d66bfb80cc)\r
            * ENABLED ()\r
            OK success\r
            NO IMAP_PROTOCOL_BAD_PARAMETERS\r
            NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r
            NO Please authenticate first\r
            BAD IMAP_PROTOCOL_ERROR Unrecognized command\r
            + \r
            + Y2hhbGxlbmdl\r
            BYE shutting down\r
            * Fatal error: Internal error: assertion failed\r

            """
        let responses = SyncTestSupport.responses(SyncTestSupport.decode(Array(wire.utf8), role: .master))
        #expect(
            responses == [
                .capability(name: "SASL", parameters: ["PLAIN", "LOGIN"]),
                .capability(name: "COMPRESS", parameters: ["DEFLATE"]),
                .capability(name: "SIEVE-MAILBOX", parameters: []),
                .greeting("cyrus-replica Cyrus sync server 3.6.1"),
                .data(.init("MISSING", .list([.string("6cde83a0be6945226dc22cf647c994d66bfb80cc")]))),
                .data(.init("ENABLED", .list([]))),
                .status(.success),
                .status(SyncStatus(.no, code: .protocolBadParameters)),
                .status(.no(.mailboxNonexistent)),
                .status(SyncStatus(.no, text: "Please authenticate first")),
                .status(SyncStatus(.bad, code: .protocolError, text: "Unrecognized command")),
                .continuation(""),
                .continuation("Y2hhbGxlbmdl"),
                .status(SyncStatus(.bye, text: "shutting down")),
                .fatalError("Internal error: assertion failed"),
            ]
        )
    }

    @Test func everyListedStatusCodeIsRecognised() {
        let codes: [SyncResponseCode] = [
            .invalidUser, .mailboxNonexistent, .mailboxLocked, .mailboxMoved, .mailboxNotSupported, .syncChecksum,
            .syncChanged, .syncBadSieve, .protocolError, .protocolBadParameters, .permissionDenied,
        ]
        for code in codes {
            var buffer = ByteBuffer()
            SyncResponse.status(.no(code)).write(into: &buffer)
            let decoded = SyncTestSupport.responses(
                SyncTestSupport.decode(Array(buffer.readableBytesView), role: .master, skipBanner: true)
            )
            #expect(decoded == [.status(.no(code))])
        }
        #expect(SyncResponseCode(rawValue: "IMAP_FOO_2") != nil)
        #expect(SyncResponseCode(rawValue: "Please") == nil)
        #expect(SyncResponseCode(rawValue: "IMAP_") == nil)
    }
}
