import NIOCore
import POP3Codec
import PropertyBased
import Testing

@Suite struct POP3CommandParserTests {
    func parse(_ line: String) throws(POP3ParseError) -> POP3Command {
        try POP3CommandParser.parse(ByteBuffer(string: line))
    }

    @Test(arguments: [
        ("USER alice", POP3Command.user("alice")),
        ("user alice", .user("alice")),
        ("PASS pass word with spaces ", .pass("pass word with spaces ")),
        ("PASS  leading", .pass(" leading")),
        ("AUTH", .auth(mechanism: nil, initialResponse: nil)),
        ("AUTH ", .auth(mechanism: nil, initialResponse: nil)),
        ("auth plain", .auth(mechanism: "PLAIN", initialResponse: nil)),
        ("AUTH PLAIN AGFsaWNlAHB3", .auth(mechanism: "PLAIN", initialResponse: "AGFsaWNlAHB3")),
        ("AUTH PLAIN =", .auth(mechanism: "PLAIN", initialResponse: "=")),
        ("STLS", .stls), ("capa", .capa), ("STAT", .stat), ("NOOP", .noop), ("RSET", .rset), ("QUIT", .quit),
        ("LIST", .list(nil)), ("LIST 3", .list(3)), ("list  3", .list(3)),
        ("UIDL", .uidl(nil)), ("UIDL 12", .uidl(12)),
        ("RETR 1", .retr(1)), ("DELE 4294967295", .dele(4_294_967_295)),
        ("TOP 2 0", .top(2, lines: 0)), ("TOP 2 10", .top(2, lines: 10)),
    ])
    func parsesEveryCommand(_ line: String, _ expected: POP3Command) throws {
        #expect(try parse(line) == expected)
    }

    @Test(arguments: [
        ("", "Syntax error"),
        ("FROB", "Unrecognized command"),
        ("RETR", "Missing argument"),
        ("RETR x", "Not a number"),
        ("RETR -1", "Not a number"),
        ("RETR 12345678901", "Not a number"),
        ("RETR 1 2", "Unexpected extra argument"),
        ("STAT now", "Unexpected extra argument"),
        ("QUIT please", "Unexpected extra argument"),
        ("TOP 1", "Missing argument"),
        ("TOP 1 x", "Invalid number of lines"),
        ("TOP 1 2 3", "Unexpected extra argument"),
        ("USER", "Missing argument"),
        ("PASS", "Missing argument"),
        ("AUTH PLAIN a b", "Unexpected extra argument"),
        ("US\u{0}ER a", "NUL in command"),
    ])
    func refusesMalformedLines(_ line: String, _ text: String) {
        #expect(throws: POP3ParseError(text)) { try parse(line) }
    }

    @Test func refusesOverlongArguments() {
        let long = String(repeating: "a", count: POP3CommandParser.maxArgumentLength + 1)
        #expect(throws: POP3ParseError("Argument too long")) { try parse("USER " + long) }
        #expect(throws: POP3ParseError("Argument too long")) { try parse("PASS " + long) }
    }

    @Test func writtenCommandsParseBack() async {
        let word = Gen.letterOrNumber.string(of: 1...30)
        await propertyCheck(input: word, Gen.int(in: 0...4_000_000), Gen.int(in: 0...1000)) { word, number, lines in
            let commands: [POP3Command] = [
                .user(word), .pass(word + " " + word), .auth(mechanism: word.uppercased(), initialResponse: word),
                .auth(mechanism: nil, initialResponse: nil), .list(number), .uidl(nil), .retr(number),
                .dele(number), .top(number, lines: lines), .stat, .noop, .rset, .quit, .capa, .stls,
            ]
            for command in commands {
                var wire = ByteBuffer()
                command.write(into: &wire)
                #expect(wire.readableBytesView.suffix(2).elementsEqual(Array("\r\n".utf8)))
                wire.moveWriterIndex(to: wire.writerIndex - 2)
                #expect((try? POP3CommandParser.parse(wire)) == command, "\(command)")
            }
        }
    }

    @Test func arbitraryBytesNeverCrashTheParser() async {
        let bytes = Gen.element(of: Array("RETRTOP LIST 0123456789 \u{0}\u{7f}é+-".utf8)).map { $0 ?? 0x20 }
        await propertyCheck(count: 2000, input: bytes.array(of: 0...40)) { line in
            var buffer = ByteBuffer()
            buffer.writeBytes(line)
            _ = try? POP3CommandParser.parse(buffer)
        }
    }
}

@Suite struct POP3ResponseTests {
    @Test(arguments: [
        (POP3Response.ok("2 320"), "+OK 2 320\r\n"),
        (.ok(""), "+OK\r\n"),
        (.err(.inUse, "Maildrop busy"), "-ERR [IN-USE] Maildrop busy\r\n"),
        (.err(.loginDelay, "Wait"), "-ERR [LOGIN-DELAY] Wait\r\n"),
        (.err(.systemTemporary, "later"), "-ERR [SYS/TEMP] later\r\n"),
        (.err(.systemPermanent, "no"), "-ERR [SYS/PERM] no\r\n"),
        (.err(.auth, "Invalid login"), "-ERR [AUTH] Invalid login\r\n"),
        (.continuation(""), "+ \r\n"),
        (.continuation("VXNlcm5hbWU6"), "+ VXNlcm5hbWU6\r\n"),
    ])
    func writesAndParsesBack(_ response: POP3Response, _ wire: String) throws {
        var buffer = ByteBuffer()
        response.write(into: &buffer)
        #expect(String(buffer: buffer) == wire)
        buffer.moveWriterIndex(to: buffer.writerIndex - 2)
        #expect(try POP3Response.parse(buffer) == response)
    }

    @Test func textCannotInjectALine() {
        var buffer = ByteBuffer()
        POP3Response.err("bad\r\n+OK forged").write(into: &buffer)
        #expect(String(buffer: buffer) == "-ERR bad+OK forged\r\n")
    }

    @Test func refusesNonStatusLines() {
        #expect(throws: POP3ParseError.self) { try POP3Response.parse(ByteBuffer(string: "* OK imap")) }
        #expect(throws: POP3ParseError.self) { try POP3Response.parse(ByteBuffer(string: "+OKAY")) }
    }
}
