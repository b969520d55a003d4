import LMTPCodec
import NIOCore
import PropertyBased
import Testing

@Suite struct LMTPCommandParserTests {
    func parse(_ line: String) throws(LMTPParseError) -> LMTPCommand {
        try LMTPCommandParser.parseCommand(ByteBuffer(string: line))
    }

    @Test func parsesEveryCommand() throws {
        #expect(try parse("LHLO mx.example.org") == .lhlo("mx.example.org"))
        #expect(try parse("lhlo [127.0.0.1]") == .lhlo("[127.0.0.1]"))
        #expect(
            try parse("MAIL FROM:<a@example.org> SIZE=1234 BODY=8BITMIME")
                == .mailFrom(
                    MailPath(localPart: "a", domain: "example.org"),
                    parameters: [
                        ESMTPParameter(keyword: "SIZE", value: "1234"),
                        ESMTPParameter(keyword: "body", value: "8BITMIME"),
                    ]
                )
        )
        #expect(try parse("MAIL FROM:<>") == .mailFrom(nil, parameters: []))
        #expect(try parse("mail from: <x@y>") == .mailFrom(MailPath(localPart: "x", domain: "y"), parameters: []))
        #expect(
            try parse("RCPT TO:<alice+lists@example.com>")
                == .rcptTo(MailPath(localPart: "alice+lists", domain: "example.com"), parameters: [])
        )
        #expect(try parse("RCPT TO:<bob>") == .rcptTo(MailPath(localPart: "bob", domain: nil), parameters: []))
        #expect(
            try parse("RCPT TO:<@relay.example:carol@example.com>")
                == .rcptTo(MailPath(localPart: "carol", domain: "example.com"), parameters: [])
        )
        #expect(
            try parse("RCPT TO:<\"odd name\"@example.com>")
                == .rcptTo(MailPath(localPart: "odd name", domain: "example.com"), parameters: [])
        )
        #expect(try parse("DATA") == .data)
        #expect(try parse("rset") == .rset)
        #expect(try parse("NOOP whatever") == .noop)
        #expect(try parse("QUIT") == .quit)
    }

    @Test(arguments: ["HELO x", "EHLO x", "VRFY alice", "BDAT 10", "", "XYZZY"])
    func unknownVerbsAreUnrecognized(_ line: String) {
        #expect(throws: LMTPParseError.unrecognized) { try parse(line) }
    }

    @Test(arguments: [
        "MAIL FROM:a@b", "MAIL FROM:<a@b", "MAIL", "RCPT TO:<>", "RCPT TO:<a..b@c>", "RCPT TO:<a@>",
        "MAIL FROM:<a@b> SIZE=", "MAIL FROM:<a@b>SIZE=1", "LHLO", "LHLO a b", "DATA now", "QUIT now",
        "RCPT TO:<\"unterminated@x>", "MAIL FROM:<a\0b@c>",
    ])
    func malformedArgumentsAreSyntaxErrors(_ line: String) {
        #expect {
            try parse(line)
        } throws: { error in
            if case LMTPParseError.syntax = error { return true }
            return false
        }
    }

    @Test func tooManyParametersAreRefused() {
        let line = "MAIL FROM:<a@b>" + String(repeating: " X=1", count: LMTPCommandParser.maxParameters + 1)
        #expect(throws: LMTPParseError.syntax("too many parameters")) { try parse(line) }
    }

    @Test func writtenCommandsParseBack() async {
        let local = Gen.letterOrNumber.string(of: 1...20)
        let domain = Gen.letterOrNumber.string(of: 1...20)
        await propertyCheck(input: local, domain, Gen.int(in: 0...100_000_000)) { local, domain, size in
            let commands: [LMTPCommand] = [
                .mailFrom(
                    MailPath(localPart: local, domain: domain),
                    parameters: [ESMTPParameter(keyword: "SIZE", value: String(size))]
                ),
                .rcptTo(MailPath(localPart: local + "+x", domain: domain + ".example"), parameters: []),
                .lhlo(domain),
            ]
            for command in commands {
                var buffer = ByteBuffer()
                command.write(into: &buffer)
                var framer_input = buffer
                let line = framer_input.readSlice(length: buffer.readableBytes - 2)!
                #expect((try? LMTPCommandParser.parseCommand(line)) == command)
            }
        }
    }
}

@Suite struct LMTPReplyTests {
    @Test func multiLineReplyEncodesWithDashes() {
        var buffer = ByteBuffer()
        LMTPReply(code: 250, enhancedCode: nil, lines: ["host", "PIPELINING", "SIZE 10"]).write(into: &buffer)
        #expect(String(buffer: buffer) == "250-host\r\n250-PIPELINING\r\n250 SIZE 10\r\n")
    }

    @Test func encodedRepliesParseBack() throws {
        let replies = [
            LMTPReply(250, "2.1.5", "Ok"), LMTPReply(552, "5.2.2", "Over quota"),
            LMTPReply(code: 250, enhancedCode: nil, lines: ["a", "b"]), LMTPReply(354, nil, "Go ahead"),
        ]
        for reply in replies {
            var buffer = ByteBuffer()
            reply.write(into: &buffer)
            var parser = LMTPReplyParser()
            var parsed: LMTPReply?
            for line in String(buffer: buffer).split(separator: "\r\n") {
                parsed = try parser.lineReceived(ByteBuffer(string: String(line)))
            }
            #expect(parsed == reply)
        }
    }

    @Test func replyTextCannotInjectLines() {
        var buffer = ByteBuffer()
        LMTPReply(250, "2.0.0", "ok\r\n250 fake").write(into: &buffer)
        #expect(String(buffer: buffer) == "250 2.0.0 ok  250 fake\r\n")
    }
}
