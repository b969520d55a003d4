import MailCore
import MailStore
import Replication
import SyncCodec
import Testing

/// The replica's session rules and its answers to hostile input: each gets a clean `NO`/`BAD`,
/// changes nothing, and the server goes on.
@Suite struct SyncServerSessionTests {
    static let m4 = CyrusTranscriptReplayTests.m4

    @Test func sessionStateMachine() {
        var session = SyncServerSession(
            configuration: SyncServerConfiguration(admins: ["repl"], allowPlaintext: false),
            tlsActive: false
        )
        #expect(session.bannerCapabilities == [], "no plaintext SASL without TLS, no STARTTLS without a context")
        #expect(session.commandReceived(.noop) == .run)
        #expect(
            session.commandReceived(.get(.init("USER", .string("alice"))))
                == .refuse(SyncStatus(.no, text: "Please authenticate first"))
        )
        session.tlsActive = true
        #expect(session.bannerCapabilities == ["SASL PLAIN"])
        session.loggedIn(as: "bob")
        #expect(session.commandReceived(.noop) == .refuse(SyncStatus(.no, text: "Permission denied")))
        session.loggedIn(as: "repl")
        #expect(session.commandReceived(.exit) == .run)
        #expect(
            session.commandReceived(.startTLS) == .refuse(SyncStatus(.bad, text: "Can't Starttls after authentication"))
        )
        #expect(
            session.commandReceived(.authenticate(mechanism: "PLAIN", initialResponse: nil))
                == .refuse(SyncStatus(.bad, text: "Already authenticated"))
        )
    }

    @Test func authenticationRules() async throws {
        let server = try SyncTestServer()
        let client = try await server.connect()
        #expect(try await client.command("GET USER alice") == ["NO Please authenticate first"])
        #expect(try await client.command("AUTHENTICATE CRAM-MD5") == ["BAD Invalid mechanism"])
        // "\0repluser\0wrong"
        #expect(try await client.command("AUTHENTICATE PLAIN AHJlcGx1c2VyAHdyb25n") == ["NO authentication failure"])
        // Without an initial response: an empty challenge, then the response on its own line.
        client.send("AUTHENTICATE PLAIN\r\n")
        #expect(try await client.readLine() == "+ ")
        #expect(try await client.command("AHJlcGx1c2VyAHNlY3JldA==") == ["OK Success (no protection)"])
        #expect(try await client.command("NOOP") == ["OK Noop completed"])
        // A valid password for a non-admin logs in but may do nothing.
        let other = try await server.connect()
        #expect(try await other.command("AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==") == ["OK Success (no protection)"])
        #expect(try await other.command("NOOP") == ["NO Permission denied"])
        #expect(try await other.command("GET USER alice") == ["NO Permission denied"])
        // Proxy authorization is refused.
        let proxy = try await server.connect()
        #expect(
            try await proxy.command("AUTHENTICATE PLAIN YWxpY2UAcmVwbHVzZXIAc2VjcmV0") == [
                "NO Proxy authorization is not permitted"
            ]
        )
    }

    @Test func badUploadsAreRefusedAndNothingChanges() async throws {
        let server = try SyncTestServer()
        let client = try await server.login()
        // Bytes that do not hash to the GUID claimed.
        var forged = Self.m4
        forged[forged.count - 3] = UInt8(ascii: "X")
        client.send(
            Array("APPLY MESSAGE (%{default 6cde83a0be6945226dc22cf647c994d66bfb80cc 111}\r\n".utf8) + forged
                + Array(")\r\n".utf8)
        )
        let refused = try await client.readResponse()
        #expect(
            refused.count == 1
                && refused[0].hasPrefix(
                    "NO IMAP_PROTOCOL_ERROR GUID 6cde83a0be6945226dc22cf647c994d66bfb80cc does not match"
                )
        )
        // An unknown partition.
        client.send(
            Array("APPLY MESSAGE (%{elsewhere 6cde83a0be6945226dc22cf647c994d66bfb80cc 111}\r\n".utf8) + Self.m4
                + Array(")\r\n".utf8)
        )
        #expect(try await client.readResponse() == ["NO IMAP_PROTOCOL_ERROR unknown partition elsewhere"])
        // Neither upload is usable: a mailbox needing it fails and is not created.
        let apply =
            "APPLY MAILBOX %(UNIQUEID abc MBOXNAME user.alice LAST_UID 1 HIGHESTMODSEQ 2 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 UIDVALIDITY 7 PARTITION default ACL \"alice\tlrswipkxtecdan\t\" OPTIONS P RECORD (%(UID 1 MODSEQ 2 LAST_UPDATED 1 FLAGS () INTERNALDATE 1 SIZE 111 GUID 6cde83a0be6945226dc22cf647c994d66bfb80cc)))"
        let reply = try await client.command(apply)
        #expect(reply.count == 1 && reply[0].hasPrefix("NO "))
        #expect(try await server.store.mailbox(MailboxName(internal: "user.alice")) == nil)
        // Unknown partition in APPLY MAILBOX, missing required fields, unknown APPLY and GET.
        #expect(
            try await client.command(apply.replacingOccurrences(of: "PARTITION default", with: "PARTITION nowhere"))
                == ["NO IMAP_PARTITION_UNKNOWN Unknown partition nowhere"]
        )
        #expect(
            try await client.command("APPLY MAILBOX %(UNIQUEID abc MBOXNAME user.alice)") == [
                "NO IMAP_PROTOCOL_BAD_PARAMETERS"
            ]
        )
        #expect(try await client.command("APPLY FROBNICATE %(X 1)") == ["NO IMAP_PROTOCOL_ERROR Protocol error"])
        #expect(try await client.command("GET FROBNICATE x") == ["NO IMAP_PROTOCOL_ERROR Protocol error"])
        #expect(
            try await client.command("GET FULLMAILBOX user.nobody") == ["NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox"]
        )
        // Protocol errors: unknown word, unbalanced dlist, empty line.
        #expect(try await client.command("FROB") == ["BAD IMAP_PROTOCOL_ERROR Unrecognized command"])
        #expect(
            try await client.command("APPLY MAILBOX %(UNIQUEID (x") == [
                "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line"
            ]
        )
        #expect(try await client.command("") == ["BAD Null command"])
        // The session is still usable, and so is the server.
        #expect(try await client.command("NOOP") == ["OK Noop completed"])
        let next = try await server.login()
        #expect(try await next.command("GET USER alice") == ["OK success"])
        #expect(await server.store.check().problems.isEmpty)
    }

    @Test func aConnectionCutMidUploadChangesNothing() async throws {
        let server = try SyncTestServer()
        let client = try await server.login()
        client.send(
            Array("APPLY MESSAGE (%{default 6cde83a0be6945226dc22cf647c994d66bfb80cc 111}\r\n".utf8)
                + Array(Self.m4[..<50])
        )
        client.close()
        try? await client.session.value
        let next = try await server.login()
        let reserve =
            "APPLY RESERVE %(PARTITION default MBOXNAME (user.alice) GUID (6cde83a0be6945226dc22cf647c994d66bfb80cc))"
        #expect(
            try await next.command(reserve) == ["* MISSING (6cde83a0be6945226dc22cf647c994d66bfb80cc)", "OK success"]
        )
        #expect(await server.store.check().problems.isEmpty)
    }

    @Test func uploadsLastUntilRestart() async throws {
        let server = try SyncTestServer()
        let client = try await server.login()
        client.send(
            Array("APPLY MESSAGE (%{default 6cde83a0be6945226dc22cf647c994d66bfb80cc 111}\r\n".utf8) + Self.m4
                + Array(")\r\n".utf8)
        )
        #expect(try await client.readResponse() == ["OK success"])
        let reserve =
            "APPLY RESERVE %(PARTITION default MBOXNAME (user.alice) GUID (6cde83a0be6945226dc22cf647c994d66bfb80cc))"
        #expect(try await client.command(reserve) == ["OK success"], "staged in this session")
        #expect(try await client.command("RESTART") == ["OK Restarting"])
        #expect(
            try await client.command(reserve) == ["* MISSING (6cde83a0be6945226dc22cf647c994d66bfb80cc)", "OK success"]
        )
    }

    @Test func userLevelApplies() async throws {
        let server = try SyncTestServer()
        let client = try await server.login()
        try await CyrusTranscriptReplayTests.firstSync(client)
        let user = try UserName("alice")
        #expect(try await server.store.subscriptions(of: user).map(\.internalName).contains("user.alice.Sent"))
        #expect(try await server.store.quotaRoot("user.alice")?.storageLimitKiB == 100_000)
        #expect(try await server.store.seenStates(of: user)["m558wlrs339szh95vj1dose3"]?.seenUIDs == "1")
        // GET USER lists every mailbox, the quota, the seen record and the subscriptions.
        let reply = try await client.command("GET USER alice")
        #expect(reply.filter { $0.hasPrefix("* MAILBOX ") }.count == 4)
        #expect(reply.contains("* QUOTA %(ROOT user.alice LIMIT 100000 STORAGE 100000 MODSEQ 0)"))
        #expect(reply.contains { $0.hasPrefix("* SEEN %(UNIQUEID m558wlrs339szh95vj1dose3 ") })
        #expect(
            reply.contains("* LSUB (shared.folder user.alice.Sent)")
                || reply.contains("* LSUB (user.alice.Sent shared.folder)")
        )
        #expect(reply.last == "OK success")
        // Rename, expunge, unsubscribe, unquota, delete, unuser.
        let rename =
            "APPLY RENAME %(OLDMBOXNAME user.alice.Archive.2020 NEWMBOXNAME user.alice.Archive.Y2020 PARTITION default UIDVALIDITY 1795435144)"
        #expect(try await client.command(rename) == ["OK success"])
        #expect(
            try await server.store.replicaState(of: MailboxName(internal: "user.alice.Archive.Y2020"), records: false)?
                .mailbox.uniqueID == "0gugc0xc1629oqnrbaqt93vg"
        )
        #expect(
            try await client.command("APPLY EXPUNGE %(MBOXNAME user.alice UNIQUEID u5298fpmemrf8j6ekg2324b0 UID (3))")
                == ["OK success"]
        )
        let records = try await server.store.replicaState(of: MailboxName(internal: "user.alice"), records: true)!
            .records
        #expect(records.first { $0.uid == UID(3) }?.isExpunged == true)
        #expect(
            try await client.command("APPLY EXPUNGE %(MBOXNAME user.alice UNIQUEID wrong UID (1))") == [
                "NO IMAP_MAILBOX_MOVED Mailbox exists with another name or uniqueid"
            ]
        )
        #expect(try await client.command("APPLY UNSUB %(USERID alice MBOXNAME user.alice.Sent)") == ["OK success"])
        #expect(try await client.command("APPLY UNQUOTA user.alice") == ["OK success"])
        #expect(try await server.store.quotaRoot("user.alice") == nil)
        #expect(try await client.command("APPLY UNMAILBOX user.alice.Archive") == ["OK success"])
        #expect(
            try await client.command("APPLY UNMAILBOX user.alice.Archive") == [
                "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox"
            ]
        )
        #expect(try await client.command("APPLY UNUSER alice") == ["OK success"])
        #expect(try await server.store.mailboxes(under: .inbox(of: user)).isEmpty)
        #expect(await server.store.check().problems.isEmpty)
    }
}
