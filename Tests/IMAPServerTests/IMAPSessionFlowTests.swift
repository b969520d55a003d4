import MailCore
import MailStore
import Testing

@testable import IMAPServer

/// Whole sessions against a real store: C:/S: exchanges and what they leave behind.
@Suite struct IMAPSessionFlowTests {
    static let message =
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: Hello there\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nThe body says grüße.\r\n"

    @Test func greetingAdvertisesCapabilitiesAndLoginRules() async throws {
        let server = try await IMAPTestServer(configuration: IMAPConfiguration(allowPlaintext: false))
        let client = IMAPTestClient(connection: server.connection)
        let greeting = try await client.readLine()
        #expect(greeting.hasPrefix("* OK [CAPABILITY IMAP4rev1 "))
        #expect(greeting.contains("LOGINDISABLED"))
        let login = try await client.command("LOGIN alice secret-alice")
        #expect(login.last!.contains("NO [PRIVACYREQUIRED]"))
        let select = try await client.command("SELECT INBOX")
        #expect(select.last!.contains("BAD"))
    }

    @Test func loginFailureIsSlowedAndCounted() async throws {
        let server = try await IMAPTestServer()
        let client = try await server.connect()
        let reply = try await client.command("LOGIN alice wrong")
        #expect(reply.last!.hasSuffix("NO [AUTHENTICATIONFAILED] Authentication failed"))
        let ok = try await client.command("LOGIN alice secret-alice")
        #expect(ok.last!.contains("OK [CAPABILITY IMAP4rev1"))
    }

    @Test func authenticatePlainWithAndWithoutInitialResponse() async throws {
        let server = try await IMAPTestServer()
        let first = try await server.connect()
        let ir = Base64.encode(Array("\0alice\0secret-alice".utf8))
        #expect(try await first.command("AUTHENTICATE PLAIN \(ir)").last!.contains("OK"))
        let second = try await server.connect()
        second.send("a AUTHENTICATE PLAIN\r\n")
        #expect(try await second.readLine() == "+ ")
        second.send(Base64.encode(Array("\0bob\0secret-bob".utf8)) + "\r\n")
        #expect(try await second.readUntilTagged("a").last!.contains("a OK"))
    }

    /// Messages past `directWriteMinimum` go out in a write of their own when the response
    /// carries them whole; the bytes on the wire must not change.
    @Test func largeWholeMessagesGoOutUnchanged() async throws {
        let server = try await IMAPTestServer()
        let line = "All work and no play makes Jack a dull boy, grüße.\r\n"
        let large = Self.message + String(repeating: line, count: 40 * 1024 / line.utf8.count)
        let size = large.utf8.count
        #expect(size >= IMAPSessionRunner<IMAPTestClient.Transport>.directWriteMinimum)
        try await server.deliver(large, to: "alice")
        try await server.deliver(Self.message, to: "alice")
        let client = try await server.login("alice")
        _ = try await client.command("SELECT INBOX")
        let peek = try await client.command("FETCH 1 (UID BODY.PEEK[] RFC822.SIZE)")
        #expect(peek[0] == "* 1 FETCH (UID 1 BODY[] {\(size)}\r\n\(large) RFC822.SIZE \(size))")
        let both = try await client.command("FETCH 1:2 (RFC822)")
        #expect(both[0] == "* 1 FETCH (RFC822 {\(size)}\r\n\(large) FLAGS (\\Seen))")
        #expect(both[1] == "* 2 FETCH (RFC822 {\(Self.message.utf8.count)}\r\n\(Self.message) FLAGS (\\Seen))")
        // Anything that needs the parsed message takes the ordinary path.
        let partial = try await client.command("UID FETCH 1 (BODY.PEEK[]<0.5> BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        #expect(partial[0].hasPrefix("* 1 FETCH (UID 1 BODY[]<0> {5}\r\nFrom: BODY[HEADER.FIELDS (SUBJECT)] {"))
    }

    /// FETCH reads the next batch while writing the current one, and queues large bodies
    /// whole (handed over when the queue passes `queueThreshold`): every message must come out
    /// once, in order, across batch boundaries and queue hand-overs, small and large alike.
    @Test func fetchAcrossSeveralBatches() async throws {
        let server = try await IMAPTestServer()
        let count = IMAPSessionRunner<IMAPTestClient.Transport>.fetchBatch * 2 + 5
        // Six large bodies in a batch are more than one queue's worth.
        #expect(6 * 200_000 > IMAPSessionRunner<IMAPTestClient.Transport>.queueThreshold)
        var bodies: [String] = []
        for index in 1...count {
            let filler = index % 10 == 0 ? String(repeating: "x", count: 200_000) : "short"
            let text = "Subject: \(index)\r\n\r\nmessage \(index) \(filler)\r\n"
            bodies.append(text)
            try await server.deliver(text, to: "alice")
        }
        let client = try await server.login("alice")
        _ = try await client.command("SELECT INBOX")
        let reply = try await client.command("FETCH 1:* (UID BODY.PEEK[])")
        #expect(reply.count == count + 1)
        for (offset, body) in bodies.enumerated() {
            let seq = offset + 1
            #expect(reply[offset] == "* \(seq) FETCH (UID \(seq) BODY[] {\(body.utf8.count)}\r\n\(body))")
        }
    }

    /// SEARCH reads messages in batches, the next while the current one is matched: the
    /// result must be the same across batch boundaries.
    @Test func searchAcrossSeveralBatches() async throws {
        let server = try await IMAPTestServer()
        let count = IMAPSessionRunner<IMAPTestClient.Transport>.searchBatch * 2 + 7
        var expected: [Int] = []
        for index in 1...count {
            let word = index % 37 == 0 || index == count ? "needle" : "hay"
            if word == "needle" { expected.append(index) }
            try await server.deliver("Subject: \(index)\r\n\r\nsome \(word) here\r\n", to: "alice")
        }
        let client = try await server.login("alice")
        _ = try await client.command("SELECT INBOX")
        let search = try await client.command("SEARCH TEXT needle")
        #expect(search[0] == "* SEARCH" + expected.map { " \($0)" }.joined())
    }

    /// Envelope-field searches are answered from shared header summaries (kept by GUID);
    /// the answers must equal those from the messages, also for other fields and for a
    /// second session that finds the summaries cached.
    @Test func headerSearchesFromSummariesMatchTheMessages() async throws {
        let server = try await IMAPTestServer()
        let messages = [
            "From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.org>\r\nSubject: Report\r\nX-Tag: red\r\nDate: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\nbody\r\n",
            "From: bob@example.org\r\nCc: jürgen@example.org\r\nSubject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\nX-Tag: blue\r\nDate: Wed, 15 Nov 2023 08:00:00 +0000\r\n\r\nbody\r\n",
            "from: carol@example.org\r\nsubject: report, again\r\n\r\nbody\r\n",
        ]
        for message in messages { try await server.deliver(message, to: "alice") }
        for round in 1...2 {
            let client = try await server.login("alice")
            _ = try await client.command("SELECT INBOX")
            let searches: [(String, String)] = [
                ("SEARCH FROM juergen", "* SEARCH 1"),
                ("SEARCH CHARSET UTF-8 FROM {7+}\r\nJÜRGEN", "* SEARCH 1"),
                ("SEARCH SUBJECT report", "* SEARCH 1 3"),
                ("SEARCH CHARSET UTF-8 SUBJECT {7+}\r\ngrüße", "* SEARCH 2"),
                ("SEARCH CHARSET UTF-8 OR CC {7+}\r\njürgen FROM carol", "* SEARCH 2 3"),
                ("SEARCH HEADER CC \"\"", "* SEARCH 2"),
                ("SEARCH SENTON 15-Nov-2023", "* SEARCH 2"),
                ("SEARCH HEADER X-Tag blue", "* SEARCH 2"),
                ("SEARCH NOT FROM example.org", "* SEARCH"),
            ]
            for (command, expected) in searches {
                let reply = try await client.command(command)
                #expect(reply[0] == expected, "round \(round): \(command)")
            }
            client.close()
        }
        #expect(server.connection.searchHeaders.count == 3)
    }

    @Test func appendSelectFetchStoreSearchExpunge() async throws {
        let server = try await IMAPTestServer()
        let client = try await server.login("alice")
        let size = Self.message.utf8.count
        client.send("a APPEND INBOX (\\Flagged) \"14-Nov-2023 22:13:20 +0000\" {\(size)}\r\n")
        #expect(try await client.readLine().hasPrefix("+ "))
        client.send(Self.message + "\r\n")
        let append = try await client.readUntilTagged("a")
        #expect(append.last!.contains("OK [APPENDUID "))
        #expect(append.last!.contains(" 1] APPEND completed"))

        let select = try await client.command("SELECT INBOX")
        #expect(select.contains("* 1 EXISTS"))
        #expect(select.contains { $0.hasPrefix("* OK [UIDVALIDITY ") })
        #expect(select.contains("* OK [UIDNEXT 2] Predicted next UID"))
        #expect(select.last!.contains("OK [READ-WRITE]"))

        let fetch = try await client.command("FETCH 1 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
        #expect(
            fetch[0]
                == "* 1 FETCH (UID 1 FLAGS (\\Flagged) INTERNALDATE \"14-Nov-2023 22:13:20 +0000\" RFC822.SIZE \(size) ENVELOPE (\"Tue, 14 Nov 2023 22:13:20 +0000\" \"Hello there\" ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.org\")) NIL NIL NIL \"<1@example.org>\"))"
        )

        let body = try await client.command("FETCH 1 BODY[]")
        #expect(body[0] == "* 1 FETCH (BODY[] {\(size)}\r\n\(Self.message) FLAGS (\\Flagged \\Seen))")

        let store = try await client.command("STORE 1 +FLAGS (\\Deleted $Important)")
        #expect(store[0] == "* 1 FETCH (FLAGS (\\Flagged \\Deleted \\Seen $Important))")
        let search = try await client.command("SEARCH DELETED SUBJECT hello")
        #expect(search[0] == "* SEARCH 1")
        // 8-bit search strings travel as literals (RFC 9051 §4.3).
        let text = try await client.command("UID SEARCH CHARSET UTF-8 BODY {\("GRÜSSE".utf8.count)+}\r\nGRÜSSE")
        #expect(text[0] == "* SEARCH")
        let umlaut = try await client.command("UID SEARCH CHARSET UTF-8 BODY {\("GRÜßE".utf8.count)+}\r\nGRÜßE")
        #expect(umlaut[0] == "* SEARCH 1")
        let expunge = try await client.command("EXPUNGE")
        #expect(expunge[0] == "* 1 EXPUNGE")
        #expect(try await server.store.records(in: .inbox(of: UserName("alice")), includeExpunged: false).isEmpty)
    }

    @Test func copyAndMoveAnswerWithCopyUID() async throws {
        let server = try await IMAPTestServer()
        for _ in 0..<3 { try await server.deliver(Self.message, to: "alice") }
        let client = try await server.login("alice")
        #expect(try await client.command("CREATE Archive/2026").last!.contains("OK"))
        _ = try await client.command("SELECT INBOX")
        let copy = try await client.command("COPY 1:2 Archive/2026")
        #expect(copy.last!.contains("OK [COPYUID "))
        #expect(copy.last!.contains(" 1:2 1:2] COPY completed"))
        let move = try await client.command("UID MOVE 3 Archive/2026")
        #expect(move[0].hasPrefix("* OK [COPYUID "))
        #expect(move[0].contains(" 3 3] "))
        #expect(move[1] == "* 3 EXPUNGE")
        let status = try await client.command("STATUS Archive/2026 (MESSAGES UIDNEXT UNSEEN)")
        #expect(status[0] == "* STATUS \"Archive/2026\" (MESSAGES 3 UIDNEXT 4 UNSEEN 3)")
        let missing = try await client.command("COPY 1 Nowhere")
        #expect(missing.last!.contains("NO [TRYCREATE]"))
    }

    @Test func idleSeesDeliveriesAndOtherSessionsExpunges() async throws {
        let server = try await IMAPTestServer()
        try await server.deliver(Self.message, to: "alice")
        let watcher = try await server.login("alice")
        _ = try await watcher.command("SELECT INBOX")
        watcher.send("idle IDLE\r\n")
        #expect(try await watcher.readLine() == "+ idling")
        try await server.deliver(Self.message, to: "alice")
        #expect(try await watcher.readLine() == "* 2 EXISTS")

        let other = try await server.login("alice")
        _ = try await other.command("SELECT INBOX")
        _ = try await other.command("STORE 1 +FLAGS.SILENT (\\Deleted)")
        #expect(try await watcher.readLine() == "* 1 FETCH (FLAGS (\\Deleted))")
        _ = try await other.command("EXPUNGE")
        #expect(try await watcher.readLine() == "* 1 EXPUNGE")
        watcher.send("DONE\r\n")
        #expect(try await watcher.readLine() == "idle OK IDLE terminated")
        let fetch = try await watcher.command("FETCH 1:* (UID)")
        #expect(fetch.first == "* 1 FETCH (UID 2)")
    }

    @Test func expungeIsHeldBackDuringFetchBySequenceNumber() async throws {
        let server = try await IMAPTestServer()
        for _ in 0..<2 { try await server.deliver(Self.message, to: "alice") }
        let a = try await server.login("alice")
        let b = try await server.login("alice")
        _ = try await a.command("SELECT INBOX")
        _ = try await b.command("SELECT INBOX")
        _ = try await b.command("STORE 1 +FLAGS (\\Deleted)")
        _ = try await b.command("EXPUNGE")
        // FETCH by sequence number must not announce the expunge (RFC 9051 §7.5.1)...
        let fetch = try await a.command("FETCH 2 (UID)")
        #expect(!fetch.contains { $0.hasSuffix("EXPUNGE") })
        #expect(fetch.contains("* 2 FETCH (UID 2)"))
        // ...but NOOP does, and numbers shift after it.
        let noop = try await a.command("NOOP")
        #expect(noop.contains("* 1 EXPUNGE"))
        #expect(try await a.command("FETCH 1 (UID)").first == "* 1 FETCH (UID 2)")
    }

    @Test func namespacesAndListInAlternateNamespace() async throws {
        let server = try await IMAPTestServer()
        let client = try await server.login("alice")
        let namespace = try await client.command("NAMESPACE")
        #expect(namespace[0] == "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared Folders/\" \"/\"))")
        _ = try await client.command("CREATE Work/Reports (USE (\\Archive))")
        _ = try await client.command("CREATE Sent (USE (\\Sent))")
        _ = try await client.command("SUBSCRIBE Sent")
        let list = try await client.command("LIST \"\" *")
        #expect(
            Array(list.dropLast()) == [
                "* LIST (\\HasNoChildren) \"/\" \"INBOX\"",
                "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"",
                "* LIST (\\HasChildren) \"/\" \"Work\"",
                "* LIST (\\HasNoChildren \\Archive) \"/\" \"Work/Reports\"",
            ]
        )
        let top = try await client.command("LIST \"\" %")
        #expect(top.count == 4)
        let subscribed = try await client.command("LIST (SUBSCRIBED) \"\" * RETURN (STATUS (MESSAGES))")
        #expect(subscribed[0] == "* LIST (\\HasNoChildren \\Subscribed \\Sent) \"/\" \"Sent\"")
        #expect(subscribed[1] == "* STATUS \"Sent\" (MESSAGES 0)")
        let lsub = try await client.command("LSUB \"\" *")
        #expect(lsub[0] == "* LSUB () \"/\" \"Sent\"")
    }

    @Test func othersMailboxesNeedRightsAndAdminsSeeUserHierarchy() async throws {
        let server = try await IMAPTestServer()
        _ = try await server.store.createUser(try UserName("admin"), passwordVerifier: "x", quota: QuotaLimits())
        let bob = try await server.login("bob")
        #expect(try await bob.command("SELECT \"Other Users/alice\"").last!.contains("NO [NONEXISTENT]"))
        let alice = try await server.login("alice")
        #expect(try await alice.command("SETACL INBOX bob lr").last!.contains("OK"))
        #expect(try await bob.command("EXAMINE \"Other Users/alice\"").last!.contains("OK [READ-ONLY]"))
        let bobList = try await bob.command("LIST \"\" *")
        #expect(bobList.contains("* LIST (\\HasNoChildren) \"/\" \"Other Users/alice\""))
        #expect(bobList.contains("* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users\""))
        let rights = try await bob.command("MYRIGHTS \"Other Users/alice\"")
        #expect(rights[0] == "* MYRIGHTS \"Other Users/alice\" lr")

        let admin = try await server.login("admin")
        let list = try await admin.command("LIST \"\" \"user/%\"")
        #expect(list.contains("* LIST (\\HasNoChildren) \"/\" \"user/alice\""))
        #expect(
            try await admin.command("SETQUOTA user/alice (STORAGE 100)").first
                == "* QUOTA \"user/alice\" (STORAGE 0 100)"
        )
        let quota = try await alice.command("GETQUOTAROOT INBOX")
        #expect(quota[0] == "* QUOTAROOT \"INBOX\" \"INBOX\"")
        #expect(quota[1] == "* QUOTA \"INBOX\" (STORAGE 0 100)")
        // As with cyradm's `cm user/carol`: an admin creates a user's INBOX; users cannot.
        #expect(try await alice.command("CREATE \"Other Users/carol\"").last!.contains("NO [NOPERM]"))
        #expect(try await admin.command("CREATE user/carol").last!.contains("OK"))
        #expect(
            try await admin.command("LIST \"\" user/carol").first == "* LIST (\\HasNoChildren) \"/\" \"user/carol\""
        )
    }

    @Test func renameKeepsUIDValidityAndInboxRenameMovesMessages() async throws {
        let server = try await IMAPTestServer()
        try await server.deliver(Self.message, to: "alice")
        let client = try await server.login("alice")
        _ = try await client.command("CREATE Projects/Old")
        let before = try await client.command("STATUS Projects/Old (UIDVALIDITY)")
        #expect(try await client.command("RENAME Projects New").last!.contains("OK"))
        let after = try await client.command("STATUS New/Old (UIDVALIDITY)")
        #expect(
            before[0].dropFirst("* STATUS \"Projects/Old\"".count) == after[0].dropFirst("* STATUS \"New/Old\"".count)
        )
        #expect(try await client.command("RENAME INBOX Saved").last!.contains("OK"))
        let saved = try await client.command("STATUS Saved (MESSAGES)")
        #expect(saved[0] == "* STATUS \"Saved\" (MESSAGES 1)")
        let inbox = try await client.command("STATUS INBOX (MESSAGES)")
        #expect(inbox[0] == "* STATUS \"INBOX\" (MESSAGES 0)")
    }

    @Test func condstoreAndQresync() async throws {
        let server = try await IMAPTestServer()
        for _ in 0..<3 { try await server.deliver(Self.message, to: "alice") }
        let client = try await server.login("alice")
        #expect(try await client.command("ENABLE QRESYNC")[0] == "* ENABLED QRESYNC")
        let select = try await client.command("SELECT INBOX")
        let line = select.first { $0.hasPrefix("* OK [HIGHESTMODSEQ ") }!
        let modseq = UInt64(line.dropFirst("* OK [HIGHESTMODSEQ ".count).prefix { $0.isNumber })!
        let validity = select.first { $0.hasPrefix("* OK [UIDVALIDITY ") }!.dropFirst("* OK [UIDVALIDITY ".count)
            .prefix { $0.isNumber }
        _ = try await client.command("STORE 2 +FLAGS.SILENT (\\Seen)")
        _ = try await client.command("STORE 3 +FLAGS.SILENT (\\Deleted)")
        _ = try await client.command("EXPUNGE")
        let changed = try await client.command("UID FETCH 1:* (FLAGS) (CHANGEDSINCE \(modseq) VANISHED)")
        #expect(changed[0] == "* VANISHED (EARLIER) 3")
        #expect(changed[1].hasPrefix("* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ("))
        _ = try await client.command("UNSELECT")
        let resync = try await client.command("SELECT INBOX (QRESYNC (\(validity) \(modseq)))")
        #expect(resync.contains("* VANISHED (EARLIER) 3"))
        let conditional = try await client.command("STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Answered)")
        #expect(conditional.last!.contains("OK [MODIFIED 1]"))
    }

    @Test func badInputGetsBadAndTheSessionGoesOn() async throws {
        let server = try await IMAPTestServer()
        let client = try await server.login("alice")
        let replies = [
            try await client.command("FROB"),
            try await client.command("SELECT"), try await client.command("FETCH 1 (FLAGS)"),
            try await client.command("UID FETCH x FLAGS"),
        ]
        for reply in replies { #expect(reply.last!.contains(" BAD ")) }
        client.send("* garbage\r\n")
        #expect(try await client.readLine().hasPrefix("* BAD"))
        #expect(try await client.command("NOOP").last!.contains("OK"))
    }

    @Test func imap4rev2SessionsGetESEARCHAndUTF8Names() async throws {
        let server = try await IMAPTestServer()
        try await server.deliver(Self.message, to: "alice")
        let client = try await server.login("alice")
        #expect(try await client.command("ENABLE IMAP4rev2")[0] == "* ENABLED IMAP4rev2")
        #expect(try await client.command("CREATE \"Grüße & more\"").last!.contains("OK"))
        let list = try await client.command("LIST \"\" \"Gr*\"")
        #expect(list[0] == "* LIST (\\HasNoChildren) \"/\" \"Grüße & more\"")
        let select = try await client.command("SELECT INBOX")
        #expect(!select.contains { $0.hasSuffix("RECENT") })
        #expect(select.contains("* LIST () \"/\" \"INBOX\""))
        let search = try await client.command("SEARCH ALL")
        #expect(search[0] == "* ESEARCH (TAG \"t6\") ALL 1")
        // The same folder, seen by an IMAP4rev1 client, in modified UTF-7.
        let old = try await server.login("alice")
        #expect(
            try await old.command("LIST \"\" \"Gr*\"")[0] == "* LIST (\\HasNoChildren) \"/\" \"Gr&APwA3w-e &- more\""
        )
    }

    @Test func appendToTheSelectedMailboxAnnouncesExistsInItsOwnResponse() async throws {
        let server = try await IMAPTestServer()
        let client = try await server.login("alice")
        _ = try await client.command("SELECT INBOX")
        let append = try await client.command("APPEND INBOX {\(Self.message.utf8.count)+}\r\n\(Self.message)")
        #expect(
            append == ["* 1 EXISTS", "t3 OK [APPENDUID \(append.last!.split(separator: " ")[3]) 1] APPEND completed"]
        )
    }

    @Test func deletingTheSelectedMailboxEndsOtherSessions() async throws {
        let server = try await IMAPTestServer()
        let owner = try await server.login("alice")
        _ = try await owner.command("CREATE Doomed")
        let watcher = try await server.login("alice")
        _ = try await watcher.command("SELECT Doomed")
        watcher.send("i IDLE\r\n")
        #expect(try await watcher.readLine() == "+ idling")
        _ = try await owner.command("DELETE Doomed")
        #expect(try await watcher.readLine() == "* BYE Selected mailbox was deleted or renamed")
        await #expect(throws: IMAPTestClient.Closed.self) { _ = try await watcher.readLine() }
    }

    @Test func metadataRoundTripsThroughAnnotations() async throws {
        let server = try await IMAPTestServer()
        let client = try await server.login("alice")
        #expect(try await client.command("SETMETADATA INBOX (/private/comment \"my inbox\")").last!.contains("OK"))
        let get = try await client.command("GETMETADATA INBOX /private/comment")
        #expect(get[0] == "* METADATA \"INBOX\" (\"/private/comment\" \"my inbox\")")
        #expect(try await client.command("SETMETADATA INBOX (/private/comment NIL)").last!.contains("OK"))
        #expect(try await client.command("GETMETADATA INBOX /private/comment").count == 1)
        #expect(try await client.command("SETMETADATA INBOX (/bogus x)").last!.contains("BAD"))
    }

    /// Server metadata (RFC 5464, mailbox ""): shared entries are set by admins and read by
    /// everyone, private ones belong to each user.
    @Test func serverMetadataIsSharedByAdminsAndPrivatePerUser() async throws {
        let server = try await IMAPTestServer()
        _ = try await server.store.createUser(try UserName("admin"), passwordVerifier: "x", quota: QuotaLimits())
        let alice = try await server.login("alice")
        let refused = try await alice.command("SETMETADATA \"\" (/shared/comment \"mine\")")
        #expect(refused.last!.contains("NO [NOPERM]"), "\(refused)")
        let admin = try await server.login("admin")
        #expect(try await admin.command("SETMETADATA \"\" (/shared/comment \"Corvid test\")").last!.contains("OK"))
        #expect(try await alice.command("SETMETADATA \"\" (/private/comment \"alice's\")").last!.contains("OK"))
        let get = try await alice.command("GETMETADATA \"\" (/shared/comment /private/comment)")
        #expect(get[0] == "* METADATA \"\" (\"/shared/comment\" \"Corvid test\" \"/private/comment\" \"alice's\")")
        let bob = try await server.login("bob")
        let bobs = try await bob.command("GETMETADATA \"\" (/shared/comment /private/comment)")
        #expect(bobs[0] == "* METADATA \"\" (\"/shared/comment\" \"Corvid test\")", "alice's private entry is hers")
        let stored = try await server.store.serverAnnotations()
        #expect(stored.map(\.entry) == ["/comment", "/comment"] && Set(stored.map(\.userID)) == ["", "alice"])
        #expect(try await admin.command("SETMETADATA \"\" (/shared/comment NIL)").last!.contains("OK"))
        #expect(try await bob.command("GETMETADATA \"\" /shared/comment").count == 1)
    }

    /// A fenced replica (`corvid failover`): reads work, every write is refused with
    /// NO [UNAVAILABLE], FETCH reads as with PEEK and CLOSE expunges nothing.
    @Test func aClosedWriteGateRefusesWritesAndKeepsReads() async throws {
        let gate = WriteGate()
        let server = try await IMAPTestServer(
            configuration: IMAPConfiguration(admins: ["admin"], allowPlaintext: true, writeGate: gate)
        )
        for index in 1...2 { try await server.deliver("Subject: \(index)\r\n\r\nbody \(index)\r\n", to: "alice") }
        let alice = try await server.login("alice")
        _ = try await alice.command("SELECT INBOX")
        #expect(try await alice.command("STORE 2 +FLAGS (\\Deleted)").last!.contains("OK"))
        gate.setOpen(false)
        for command in [
            "STORE 1 +FLAGS (\\Flagged)", "CREATE Fresh", "EXPUNGE", "COPY 1 INBOX",
            "SETMETADATA INBOX (/private/comment \"x\")",
        ] {
            let reply = try await alice.command(command)
            #expect(reply.last!.contains("NO [UNAVAILABLE]"), "\(command): \(reply)")
        }
        let append = try await alice.command("APPEND INBOX {5+}\r\nhello")
        #expect(append.last!.contains("NO [UNAVAILABLE]"), "\(append)")
        let fetch = try await alice.command("FETCH 1 (BODY[TEXT] FLAGS)")
        #expect(!fetch.joined().contains("\\Seen"), "no implicit \\Seen: \(fetch)")
        #expect(try await alice.command("CLOSE").last!.contains("OK"))
        let records = try await server.store.records(in: .inbox(of: try UserName("alice")), includeExpunged: false)
        #expect(records.count == 2, "CLOSE expunged nothing")
        #expect(records.allSatisfy { !$0.flags.contains(.seen) && !$0.flags.contains(.flagged) })
        gate.setOpen(true)
        _ = try await alice.command("SELECT INBOX")
        #expect(try await alice.command("STORE 1 +FLAGS (\\Flagged)").last!.contains("OK"), "open again")
    }

    /// Cyrus's per-user \Seen: the owner's is the records' flag, every other reader has a set of
    /// their own (csync's APPLY SEEN), so one reader's reading is not another's.
    @Test func seenIsPerUserForReadersWhoAreNotTheOwner() async throws {
        let server = try await IMAPTestServer()
        for index in 1...3 { try await server.deliver("Subject: \(index)\r\n\r\nbody \(index)\r\n", to: "alice") }
        let alice = try await server.login("alice")
        #expect(try await alice.command("SETACL INBOX bob lrsw").last!.contains("OK"))
        _ = try await alice.command("SELECT INBOX")
        #expect(try await alice.command("STORE 1 +FLAGS (\\Seen \\Flagged)").last!.contains("OK"))

        let bob = try await server.login("bob")
        let select = try await bob.command("SELECT \"Other Users/alice\"")
        #expect(select.contains("* OK [UNSEEN 1] First unseen"), "alice's \\Seen is not bob's")
        #expect(try await bob.command("FETCH 1 FLAGS").first == "* 1 FETCH (FLAGS (\\Flagged))")
        let store = try await bob.command("STORE 2 +FLAGS (\\Seen)")
        #expect(store.first == "* 2 FETCH (FLAGS (\\Seen))")
        _ = try await bob.command("FETCH 3 BODY[TEXT]")
        #expect(try await bob.command("SEARCH UNSEEN").first == "* SEARCH 1")
        // A replace keeps alice's \Seen on message 1 and sets bob's.
        #expect(try await bob.command("STORE 1 FLAGS (\\Seen)").first == "* 1 FETCH (FLAGS (\\Seen))")

        let aliceView = try await alice.command("FETCH 1:3 FLAGS")
        #expect(
            aliceView.contains("* 1 FETCH (FLAGS (\\Seen))"),
            "bob's replace removed \\Flagged, kept alice's \\Seen"
        )
        #expect(aliceView.contains("* 2 FETCH (FLAGS ())") && aliceView.contains("* 3 FETCH (FLAGS ())"))
        #expect(try await alice.command("STATUS INBOX (UNSEEN)").first == "* STATUS \"INBOX\" (UNSEEN 2)")
        #expect(
            try await bob.command("STATUS \"Other Users/alice\" (UNSEEN)").first
                == "* STATUS \"Other Users/alice\" (UNSEEN 0)"
        )
        // Bob's set survives the session, and it is what csync's GET USER / APPLY SEEN carry.
        let inbox = try #require(try await server.store.mailbox(MailboxName.inbox(of: UserName("alice"))))
        let seen = try await server.store.seenState(of: UserName("bob"), mailboxUniqueID: inbox.uniqueID)
        #expect(seen?.seenUIDs == "1:3")
        let again = try await server.login("bob")
        #expect(!(try await again.command("SELECT \"Other Users/alice\"")).contains { $0.contains("UNSEEN") })
    }
}
