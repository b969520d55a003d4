import MailCore
import MailStore
import NIOCore
import POP3Server
import Testing

/// Whole POP3 sessions against a real store, in memory.
@Suite struct POP3SessionFlowTests {
    static let message = "From: a@example.com\r\nSubject: hello\r\n\r\nfirst\r\n.dotted\r\nthird\r\n"

    @Test func capabilitiesFollowTheState() async throws {
        let server = try await POP3TestServer()
        let client = try await server.connect()
        let before = try await client.multiline("CAPA")
        #expect(before.status == "+OK List of capabilities follows")
        #expect(before.lines.contains("SASL PLAIN LOGIN"))
        #expect(before.lines.contains("USER"))
        #expect(before.lines.contains("UIDL") && before.lines.contains("TOP") && before.lines.contains("PIPELINING"))
        #expect(before.lines.contains("RESP-CODES") && before.lines.contains("AUTH-RESP-CODE"))
        #expect(before.lines.contains("EXPIRE NEVER") && before.lines.contains("LOGIN-DELAY 0"))
        #expect(!before.lines.contains("STLS"), "no TLS context in this configuration")
        _ = try await client.command("USER alice")
        _ = try await client.command("PASS secret-alice")
        let after = try await client.multiline("CAPA")
        #expect(!after.lines.contains("USER") && !after.lines.contains("SASL PLAIN LOGIN"))
        #expect(after.lines.contains("IMPLEMENTATION Corvid"))
    }

    @Test func userPassLoginAndFailures() async throws {
        let server = try await POP3TestServer()
        let client = try await server.connect()
        #expect(try await client.command("PASS secret-alice") == "-ERR [AUTH] Must give USER command")
        #expect(try await client.command("STAT") == "-ERR STAT is not valid before login")
        #expect(try await client.command("USER alice") == "+OK Name is a valid mailbox")
        #expect(try await client.command("PASS wrong") == "-ERR [AUTH] Invalid login")
        // The failed PASS used up the USER.
        #expect(try await client.command("PASS secret-alice") == "-ERR [AUTH] Must give USER command")
        #expect(try await client.command("USER nosuchuser") == "+OK Name is a valid mailbox")
        // The test authenticator accepts this name; with no INBOX the session stays unauthenticated.
        #expect(
            try await client.command("PASS secret-nosuchuser")
                == "-ERR [SYS/PERM] Unable to open maildrop: the user has no INBOX"
        )
        _ = try await client.command("USER alice")
        #expect(try await client.command("PASS secret-alice") == "+OK Maildrop ready: 0 messages (0 octets)")
        #expect(try await client.command("USER alice") == "-ERR USER is only valid before login")
    }

    @Test func failedLoginsAreLimited() async throws {
        let server = try await POP3TestServer(
            configuration: POP3Configuration(allowPlaintext: true, maxFailedLogins: 3, failedLoginDelay: 0.001)
        )
        let client = try await server.connect()
        for _ in 0..<2 {
            _ = try await client.command("USER alice")
            #expect(try await client.command("PASS nope") == "-ERR [AUTH] Invalid login")
        }
        _ = try await client.command("USER alice")
        #expect(try await client.command("PASS nope") == "-ERR [AUTH] Invalid login")
        #expect(try await client.readLine() == "-ERR Too many failed logins")
        #expect(try await client.isClosed())
    }

    @Test func plaintextLoginNeedsTLSUnlessAllowed() async throws {
        let server = try await POP3TestServer(configuration: POP3Configuration(allowPlaintext: false))
        let client = try await server.connect()
        let capa = try await client.multiline("CAPA")
        #expect(!capa.lines.contains("USER") && !capa.lines.contains { $0.hasPrefix("SASL") })
        let refusal = "-ERR [AUTH] Plaintext authentication is disabled without TLS; use STLS"
        #expect(try await client.command("USER alice") == refusal)
        #expect(try await client.command("AUTH PLAIN AGFsaWNlAHNlY3JldC1hbGljZQ==") == refusal)
        #expect(try await client.command("STLS") == "-ERR STLS is not available")
    }

    @Test func saslPlainAndLogin() async throws {
        let server = try await POP3TestServer()
        let plain = Base64.encode(Array("\0alice\0secret-alice".utf8))
        // PLAIN with an initial response.
        let one = try await server.connect()
        #expect(try await one.command("AUTH PLAIN \(plain)").hasPrefix("+OK Maildrop ready"))
        // PLAIN with a continuation.
        let two = try await server.connect()
        #expect(try await two.command("AUTH PLAIN") == "+ ")
        #expect(try await two.command(plain).hasPrefix("+OK Maildrop ready"))
        // LOGIN: user name, then password, each base64.
        let three = try await server.connect()
        #expect(try await three.command("AUTH LOGIN") == "+ VXNlcm5hbWU6")
        #expect(try await three.command(Base64.encode(Array("bob".utf8))) == "+ UGFzc3dvcmQ6")
        #expect(try await three.command(Base64.encode(Array("secret-bob".utf8))).hasPrefix("+OK Maildrop ready"))
        // Cancel, bad base64, proxy authorization, unknown mechanism, listing.
        let four = try await server.connect()
        #expect(try await four.command("AUTH PLAIN") == "+ ")
        #expect(try await four.command("*") == "-ERR [AUTH] Client canceled authentication")
        #expect(try await four.command("AUTH PLAIN") == "+ ")
        #expect(try await four.command("!!!") == "-ERR [AUTH] Response is not base64")
        let proxy = Base64.encode(Array("bob\0alice\0secret-alice".utf8))
        #expect(try await four.command("AUTH PLAIN \(proxy)") == "-ERR [AUTH] Proxy authorization is not permitted")
        #expect(try await four.command("AUTH CRAM-MD5") == "-ERR Unsupported authentication mechanism CRAM-MD5")
        let listing = try await four.multiline("AUTH")
        #expect(listing.lines == ["PLAIN", "LOGIN"])
        let wrong = Base64.encode(Array("\0alice\0nope".utf8))
        #expect(try await four.command("AUTH PLAIN \(wrong)") == "-ERR [AUTH] Invalid login")
    }

    @Test func transactionCommands() async throws {
        let server = try await POP3TestServer()
        let first = try await server.deliver(Self.message)
        try await server.deliver("Subject: two\r\n\r\nbody two\r\n")
        try await server.deliver("Subject: three\r\n\r\nbody three\r\n")
        let records = try await server.inbox()
        let validity = try await server.store.mailbox(.inbox(of: UserName("alice")))!.uidValidity.rawValue
        let sizes = records.map(\.size)
        let client = try await server.login("alice")
        #expect(try await client.command("STAT") == "+OK 3 \(sizes.reduce(0, +))")
        let list = try await client.multiline("LIST")
        #expect(list.lines == ["1 \(sizes[0])", "2 \(sizes[1])", "3 \(sizes[2])"])
        #expect(try await client.command("LIST 2") == "+OK 2 \(sizes[1])")
        #expect(try await client.command("LIST 4") == "-ERR No such message")
        #expect(try await client.command("LIST 0") == "-ERR No such message")
        let uidl = try await client.multiline("UIDL")
        #expect(uidl.lines == records.enumerated().map { "\($0.offset + 1) \(validity).\($0.element.uid.rawValue)" })
        #expect(try await client.command("UIDL 1") == "+OK 1 \(validity).\(first.rawValue)")
        let retr = try await client.multiline("RETR 1")
        #expect(retr.status == "+OK \(sizes[0]) octets")
        #expect(retr.lines.joined(separator: "\r\n") + "\r\n" == Self.message)
        let top = try await client.multiline("TOP 1 1")
        #expect(top.lines == ["From: a@example.com", "Subject: hello", "", "first"])
        #expect(try await client.command("DELE 1") == "+OK Message 1 deleted")
        #expect(try await client.command("DELE 1") == "-ERR No such message")
        #expect(try await client.command("RETR 1") == "-ERR No such message")
        #expect(try await client.command("STAT") == "+OK 2 \(sizes[1] + sizes[2])")
        #expect(try await client.multiline("LIST").lines == ["2 \(sizes[1])", "3 \(sizes[2])"])
        #expect(try await client.command("RSET") == "+OK Maildrop has 3 messages (\(sizes.reduce(0, +)) octets)")
        #expect(try await client.command("NOOP") == "+OK")
        _ = try await client.command("DELE 2")
        #expect(try await client.command("QUIT") == "+OK Corvid POP3 server signing off (2 messages left)")
        #expect(try await client.isClosed())
        // Only message 2 is gone; the others keep their UIDL values.
        let left = try await server.inbox()
        #expect(left.map(\.uid) == [records[0].uid, records[2].uid])
        let again = try await server.login("alice")
        #expect(
            try await again.multiline("UIDL").lines == [
                "1 \(validity).\(records[0].uid.rawValue)", "2 \(validity).\(records[2].uid.rawValue)",
            ]
        )
    }

    @Test func aDroppedSessionDeletesNothing() async throws {
        let server = try await POP3TestServer()
        for index in 0..<3 { try await server.deliver("Subject: \(index)\r\n\r\nx\r\n") }
        let client = try await server.login("alice")
        for number in 1...3 { #expect(try await client.command("DELE \(number)") == "+OK Message \(number) deleted") }
        client.close()
        try await client.session.value
        #expect(try await server.inbox().count == 3)
    }

    @Test func theSessionWorksOnASnapshot() async throws {
        let server = try await POP3TestServer()
        let uid1 = try await server.deliver("Subject: 1\r\n\r\none\r\n")
        let uid2 = try await server.deliver("Subject: 2\r\n\r\ntwo\r\n")
        let client = try await server.login("alice")
        // A delivery and an IMAP expunge after login do not change the numbering.
        try await server.deliver("Subject: 3\r\n\r\nthree\r\n")
        _ = try await server.store.expunge(uids: [uid1], in: .inbox(of: UserName("alice")))
        let stat = try await client.command("STAT")
        #expect(stat.hasPrefix("+OK 2 "))
        #expect(try await client.multiline("LIST").lines.count == 2)
        #expect(try await client.multiline("RETR 2").lines.last == "two")
        // Deleting the message the other session already expunged is harmless at QUIT.
        #expect(try await client.command("DELE 1") == "+OK Message 1 deleted")
        #expect(try await client.command("QUIT").hasPrefix("+OK"))
        let left = try await server.inbox()
        #expect(left.count == 2 && left[0].uid == uid2)
        let next = try await server.login("alice")
        #expect(try await next.command("STAT").hasPrefix("+OK 2 "))
    }

    @Test func loginDelayFollowsPopminpoll() async throws {
        let server = try await POP3TestServer(
            configuration: POP3Configuration(allowPlaintext: true, minPollSeconds: 600)
        )
        let first = try await server.login("alice")
        #expect(try await first.multiline("CAPA").lines.contains("LOGIN-DELAY 600"))
        _ = try await first.command("QUIT")
        let inbox = try await server.store.mailbox(.inbox(of: UserName("alice")))!
        #expect(inbox.pop3LastLogin == server.clock.now)
        server.advanceClock(by: 300)
        let second = try await server.connect()
        _ = try await second.command("USER alice")
        #expect(
            try await second.command("PASS secret-alice")
                == "-ERR [LOGIN-DELAY] Logins must be at least 10 minutes apart"
        )
        server.advanceClock(by: 301)
        _ = try await second.command("USER alice")
        #expect(try await second.command("PASS secret-alice").hasPrefix("+OK"))
    }

    @Test func pollPaddingBanksEarlyPolls() async throws {
        let server = try await POP3TestServer(
            configuration: POP3Configuration(allowPlaintext: true, minPollSeconds: 600, pollPadding: 3)
        )
        // A client idle for a long time may poll three times in quick succession, not four.
        for _ in 0..<3 {
            let client = try await server.login("alice")
            #expect(try await client.command("QUIT").hasPrefix("+OK"))
            server.advanceClock(by: 1)
        }
        let fourth = try await server.connect()
        _ = try await fourth.command("USER alice")
        #expect(try await fourth.command("PASS secret-alice").hasPrefix("-ERR [LOGIN-DELAY]"))
    }

    @Test func popUseIMAPFlags() async throws {
        let server = try await POP3TestServer(
            configuration: POP3Configuration(allowPlaintext: true, useIMAPFlags: true)
        )
        try await server.deliver("Subject: hidden\r\n\r\nx\r\n", flags: FlagSet([.deleted]))
        let read = try await server.deliver("Subject: read\r\n\r\nx\r\n")
        let peeked = try await server.deliver("Subject: peeked\r\n\r\nx\r\n")
        let client = try await server.login("alice")
        #expect(try await client.command("STAT").hasPrefix("+OK 2 "))
        _ = try await client.multiline("RETR 1")
        _ = try await client.multiline("TOP 2 0")
        _ = try await client.command("QUIT")
        let records = try await server.inbox()
        #expect(records.first { $0.uid == read }!.flags.contains(.seen))
        #expect(!records.first { $0.uid == peeked }!.flags.contains(.seen))
    }

    @Test func withoutPopUseIMAPFlagsFlagsAreLeftAlone() async throws {
        let server = try await POP3TestServer()
        try await server.deliver("Subject: deleted-flag\r\n\r\nx\r\n", flags: FlagSet([.deleted]))
        let client = try await server.login("alice")
        #expect(try await client.command("STAT").hasPrefix("+OK 1 "))
        _ = try await client.multiline("RETR 1")
        _ = try await client.command("QUIT")
        #expect(try await !server.inbox()[0].flags.contains(.seen))
    }

    @Test func badInputGetsErrAndTheSessionGoesOn() async throws {
        let server = try await POP3TestServer(
            configuration: POP3Configuration(allowPlaintext: true, maxLineLength: 100, maxConsecutiveErrors: 4)
        )
        let client = try await server.login("alice")
        #expect(try await client.command(String(repeating: "X", count: 500)) == "-ERR Line too long (limit 100 bytes)")
        #expect(try await client.command("FROB") == "-ERR Unrecognized command")
        #expect(try await client.command("RETR one") == "-ERR Not a number")
        #expect(try await client.command("NOOP") == "+OK")
        for _ in 0..<3 { #expect(try await client.command("RETR") == "-ERR Missing argument") }
        #expect(try await client.command("TOP 1") == "-ERR Missing argument")
        #expect(try await client.readLine() == "-ERR Too many errors")
        #expect(try await client.isClosed())
    }

    @Test func pipelinedAndByteAtATimeInput() async throws {
        let server = try await POP3TestServer()
        try await server.deliver(Self.message)
        let client = try await server.connect()
        client.sendByteByByte("USER alice\r\nPASS secret-alice\r\nSTAT\r\n")
        #expect(try await client.readLine() == "+OK Name is a valid mailbox")
        #expect(try await client.readLine().hasPrefix("+OK Maildrop ready: 1 messages"))
        #expect(try await client.readLine().hasPrefix("+OK 1 "))
        client.send("UIDL 1\r\nLIST\r\nRETR 1\r\nNOOP\r\n")
        #expect(try await client.readLine().hasPrefix("+OK 1 "))
        #expect(try await client.readMultiline().lines.count == 1)
        #expect(try await client.readMultiline().lines.count == 6)
        #expect(try await client.readLine() == "+OK")
    }

    @Test func largeMessagesComeBackByteExact() async throws {
        let server = try await POP3TestServer()
        var text = "Subject: big\r\n\r\n"
        for index in 0..<40_000 { text += index % 7 == 0 ? ".dot line \(index)\r\n" : "line \(index) of the body\r\n" }
        try await server.deliver(text)
        let client = try await server.login("alice")
        let retr = try await client.multiline("RETR 1")
        #expect(retr.lines.joined(separator: "\r\n") + "\r\n" == text)
    }

    @Test func quitBeforeLoginJustCloses() async throws {
        let server = try await POP3TestServer()
        let client = try await server.connect()
        #expect(try await client.command("QUIT") == "+OK Corvid POP3 server signing off")
        #expect(try await client.isClosed())
    }
}
