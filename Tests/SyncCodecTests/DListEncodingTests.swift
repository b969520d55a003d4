import NIOCore
import SyncCodec
import Testing

/// The writer's choices are Cyrus's (sync-protocol §2.2–2.4).
@Suite struct DListEncodingTests {
    static func written(_ value: DList, _ style: LiteralStyle = .nonSynchronizing) -> String {
        var buffer = ByteBuffer()
        value.write(into: &buffer, literals: style) { Array(repeating: 0x78, count: Int($0.size)) }
        return String(decoding: buffer.readableBytesView, as: UTF8.self)
    }

    @Test(arguments: [
        ("user.alice", "user.alice"),
        ("", "\"\""),
        ("NIL", "\"NIL\""),
        ("nil", "nil"),
        ("shared note", "\"shared note\""),
        ("alice\tlrswipkxtecdan\t", "\"alice\tlrswipkxtecdan\t\""),
        ("[a]:,!#&^/$.\u{1F}", "[a]:,!#&^/$.\u{1F}"),
        ("a{b", "\"a{b\""),
        ("a*b", "\"a*b\""),
        ("(x)", "\"(x)\""),
        ("50%", "{3+}\r\n50%"),
        ("say \"hi\"", "{8+}\r\nsay \"hi\""),
        ("back\\slash", "{10+}\r\nback\\slash"),
        ("line\r\nbreak", "{11+}\r\nline\r\nbreak"),
        ("é", "{2+}\r\né"),
        ("\u{7F}", "\"\u{7F}\""),
    ])
    func stringForms(_ input: String, _ expected: String) {
        #expect(Self.written(.string(input)) == expected)
    }

    @Test func longStringsAndNULAreLiterals() {
        let long = String(repeating: "a", count: 1024)
        #expect(Self.written(.string(long)) == "{1024+}\r\n" + long)
        #expect(Self.written(.string(String(repeating: "a", count: 1023))) == String(repeating: "a", count: 1023))
        #expect(Self.written(.string([0x61, 0, 0x62])) == "{3+}\r\na\0b")
    }

    @Test func literalStyleFollowsTheRole() {
        #expect(Self.written(.literal(Array("server note".utf8))) == "{11+}\r\nserver note")
        #expect(Self.written(.literal(Array("x".utf8)), .synchronizing) == "{1}\r\nx")
    }

    @Test func structures() {
        let value = DList.kvlist([
            .init("UID", .number(1)),
            .init("FLAGS", .list([.flag("\\Seen"), .string("$Custom")])),
            .init("EMPTY", .list([])),
            .init("NONE", .kvlist([])),
            .init("X", .null),
        ])
        #expect(Self.written(value) == "%(UID 1 FLAGS (\\Seen $Custom) EMPTY () NONE %() X NIL)")
    }

    @Test func fileLiteralsAreHeadersPlusCallerBytes() throws {
        let file = FileLiteral(partition: "default", guidText: "6cde83a0be6945226dc22cf647c994d66bfb80cc", size: 3)
        let command = SyncCommand.apply(.init("MESSAGE", .list([.file(file), .file(file)])))
        let segments = command.writeSegments()
        #expect(segments.count == 5)
        #expect(segments[1] == .fileBody(file))
        var buffer = ByteBuffer()
        command.write(into: &buffer) { _ in Array("abc".utf8) }
        #expect(
            String(buffer: buffer)
                == "APPLY MESSAGE (%{default 6cde83a0be6945226dc22cf647c994d66bfb80cc 3}\r\nabc"
                + " %{default 6cde83a0be6945226dc22cf647c994d66bfb80cc 3}\r\nabc)\r\n"
        )
        #expect(file.messageGUID?.hex == "6cde83a0be6945226dc22cf647c994d66bfb80cc")
        let odd = FileLiteral(partition: "my part", guidText: "a\"b", size: 0)
        #expect(Self.written(.file(odd)) == "%{\"my part\" \"a\\\"b\" 0}\r\n")
    }

    @Test func commandsAsAMasterSendsThem() {
        func line(_ command: SyncCommand) -> String {
            var buffer = ByteBuffer()
            command.write(into: &buffer)
            return String(buffer: buffer)
        }
        #expect(
            line(.authenticate(mechanism: "PLAIN", initialResponse: "AHJlcGx1c2VyAHNlY3JldA=="))
                == "AUTHENTICATE PLAIN AHJlcGx1c2VyAHNlY3JldA==\r\n"
        )
        #expect(line(.authenticate(mechanism: "PLAIN", initialResponse: "")) == "AUTHENTICATE PLAIN =\r\n")
        #expect(line(.authenticate(mechanism: "GSSAPI", initialResponse: nil)) == "AUTHENTICATE GSSAPI\r\n")
        #expect(line(.compress(algorithm: "DEFLATE")) == "COMPRESS DEFLATE\r\n")
        #expect(line(.startTLS) == "STARTTLS\r\n")
        #expect(line(.noop) == "NOOP\r\n")
        #expect(line(.restart) == "RESTART\r\n")
        #expect(line(.exit) == "EXIT\r\n")
        #expect(line(.get(.init("MAILBOXES", .list([.string("user.alice")])))) == "GET MAILBOXES (user.alice)\r\n")
        #expect(line(.restore(.init("MAILBOX", .kvlist([])))) == "RESTORE MAILBOX %()\r\n")
        #expect(
            line(.apply(.init("SIEVE", .kvlist([.init("CONTENT", .string("a;\r\n"))]))))
                == "APPLY SIEVE %(CONTENT {4+}\r\na;\r\n)\r\n"
        )
    }

    @Test func responsesAsAReplicaSendsThem() {
        func line(_ response: SyncResponse) -> String {
            var buffer = ByteBuffer()
            response.write(into: &buffer)
            return String(buffer: buffer)
        }
        #expect(line(.capability(name: "SASL", parameters: ["PLAIN", "LOGIN"])) == "* SASL PLAIN LOGIN\r\n")
        #expect(line(.capability(name: "SIEVE-MAILBOX", parameters: [])) == "* SIEVE-MAILBOX\r\n")
        #expect(line(.greeting("vm Cyrus sync server 3.6.1")) == "* OK vm Cyrus sync server 3.6.1\r\n")
        #expect(line(.continuation("")) == "+ \r\n")
        #expect(line(.status(.success)) == "OK success\r\n")
        #expect(line(.status(.no(.syncChecksum))) == "NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n")
        #expect(line(.status(.no(.protocolBadParameters))) == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n")
        #expect(line(.status(.no(.mailboxNonexistent))) == "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n")
        #expect(line(.status(.no(.mailboxLocked))) == "NO IMAP_MAILBOX_LOCKED Mailbox locked\r\n")
        #expect(line(.status(.no(.syncChanged))) == "NO IMAP_SYNC_CHANGED Changed since last sync\r\n")
        #expect(line(.status(SyncStatus(.bye, text: "shutting down"))) == "BYE shutting down\r\n")
        #expect(line(.status(SyncStatus(.ok, text: "two\r\nlines"))) == "OK two lines\r\n")
        #expect(line(.fatalError("boom")) == "* Fatal error: boom\r\n")
        #expect(
            line(.data(.init("SIEVE", .kvlist([.init("CONTENT", .string("x;\n"))]))))
                == "* SIEVE %(CONTENT {3}\r\nx;\n)\r\n"
        )
    }
}
