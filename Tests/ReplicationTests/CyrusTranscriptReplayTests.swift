import Crypto
import MailCore
import MailStore
import Testing

/// Replays Cyrus 3.6's own sync_client traffic (sync-protocol.md §10.1 and §10.2, captured from
/// a real master) into a Corvid replica: every reply must be what the Cyrus replica said, and
/// the SYNC_CRCs the master computed must be what Corvid computes over the same records (an
/// APPLY MAILBOX whose SYNC_CRC differs is answered `NO IMAP_SYNC_CHECKSUM`).
@Suite struct CyrusTranscriptReplayTests {
    static func message(_ lines: [String]) -> [UInt8] { Array(lines.map { $0 + "\r\n" }.joined().utf8) }

    static let m1 = message([
        "From: Bob <bob@example.com>", "To: alice@example.com", "Subject: Hello 1",
        "Date: Mon, 1 Jan 2024 10:00:00 +0000", "Message-ID: <m1@example.com>", "", "First message body.",
    ])
    static let m2 = message([
        "From: Carol <carol@example.com>", "To: alice@example.com", "Subject: Hello 2",
        "Date: Tue, 2 Jan 2024 10:00:00 +0000", "Message-ID: <m2@example.com>", "", "Second message body.",
    ])
    static let m3 = message([
        "From: Dave <dave@example.com>", "To: alice@example.com", "Subject: Hello 3",
        "Date: Wed, 3 Jan 2024 10:00:00 +0000", "Message-ID: <m3@example.com>", "", "Third message body.",
    ])
    static let m4 = message([
        "From: Eve <eve@example.com>", "To: alice@example.com", "Subject: New one", "Message-ID: <m4@example.com>",
        "", "Fourth.",
    ])

    static func sha1(_ bytes: [UInt8]) -> String {
        Insecure.SHA1.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    static let acl = "\"alice\tlrswipkxtecdan\t\""

    static let inbox = """
        APPLY MAILBOX %(UNIQUEID u5298fpmemrf8j6ekg2324b0 MBOXNAME user.alice SYNC_CRC 2501713581 SYNC_CRC_ANNOT 2636566164 LAST_UID 3 HIGHESTMODSEQ 9 RECENTUID 3 RECENTTIME 1795435144 LAST_APPENDDATE 1795435144 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795435144 PARTITION default ACL \(acl) OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 7 ANNOTATIONS (%(ENTRY /comment USERID "" MODSEQ 0 VALUE "shared note")) RECORD (%(UID 1 MODSEQ 5 LAST_UPDATED 1795435144 FLAGS (\\Seen $Custom) INTERNALDATE 1795435143 SIZE 161 GUID 5e700f531dd4f657ffddb5ecdec9cb52a4464033 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID "" MODSEQ 0 VALUE 1795435143) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID "" MODSEQ 0 VALUE 2))) %(UID 2 MODSEQ 6 LAST_UPDATED 1795435144 FLAGS (\\Flagged) INTERNALDATE 1795435143 SIZE 166 GUID 0a1e104b2d6d517dc6e0cf24a1ed3aa7bbebfc05 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID "" MODSEQ 0 VALUE 1795435144) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID "" MODSEQ 0 VALUE 3))) %(UID 3 MODSEQ 9 LAST_UPDATED 1795435151 FLAGS () INTERNALDATE 1795435144 SIZE 163 GUID b13789dcde0c0a0e226518309a6fb1a953be3c9f ANNOTATIONS (%(ENTRY /comment USERID "" MODSEQ 8 VALUE "msg note") %(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID "" MODSEQ 0 VALUE 1795435144) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID "" MODSEQ 0 VALUE 4)))))
        """
    static let archive = """
        APPLY MAILBOX %(UNIQUEID f90vp1k18qs2oe3l6j2zx2qf MBOXNAME user.alice.Archive SYNC_CRC 0 SYNC_CRC_ANNOT 12345678 LAST_UID 0 HIGHESTMODSEQ 1 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795435144 PARTITION default ACL \(acl) OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 1 RECORD ())
        """
    static let archive2020 = """
        APPLY MAILBOX %(UNIQUEID 0gugc0xc1629oqnrbaqt93vg MBOXNAME user.alice.Archive.2020 SYNC_CRC 0 SYNC_CRC_ANNOT 12345678 LAST_UID 0 HIGHESTMODSEQ 1 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795435144 PARTITION default ACL \(acl) OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 1 RECORD ())
        """
    static let sent = """
        APPLY MAILBOX %(UNIQUEID 0g1owrqqdx61hcfhtykb2vbc MBOXNAME user.alice.Sent SYNC_CRC 3689249803 SYNC_CRC_ANNOT 315638211 LAST_UID 1 HIGHESTMODSEQ 2 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 1795435151 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795435144 PARTITION default ACL \(acl) OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 1 RECORD (%(UID 1 MODSEQ 2 LAST_UPDATED 1795435151 FLAGS (\\Seen) INTERNALDATE 1795435151 SIZE 161 GUID 5e700f531dd4f657ffddb5ecdec9cb52a4464033 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID "" MODSEQ 0 VALUE 1795435151) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID "" MODSEQ 0 VALUE 2)))))
        """

    /// §10.1: the first sync of alice to an empty replica.
    static func firstSync(_ client: SyncTestClient) async throws {
        #expect(try await client.command("APPLY CAPABILITIES (SIEVE-MAILBOX)") == ["* ENABLED ()", "OK success"])
        #expect(try await client.command("GET USER alice") == ["OK success"])
        var upload = Array("APPLY MESSAGE (%{default 5e700f531dd4f657ffddb5ecdec9cb52a4464033 161}\r\n".utf8) + m1
        upload += Array(" %{default 0a1e104b2d6d517dc6e0cf24a1ed3aa7bbebfc05 166}\r\n".utf8) + m2
        upload += Array(" %{default b13789dcde0c0a0e226518309a6fb1a953be3c9f 163}\r\n".utf8) + m3 + Array(")\r\n".utf8)
        client.send(upload)
        #expect(try await client.readResponse() == ["OK success"])
        for apply in [inbox, archive, archive2020, sent] {
            #expect(try await client.command(apply) == ["OK success"], "\(apply.prefix(90))")
        }
        #expect(
            try await client.command("APPLY QUOTA %(ROOT user.alice LIMIT 100000 STORAGE 100000 MODSEQ 11)") == [
                "OK success"
            ]
        )
        #expect(try await client.command("APPLY SUB %(USERID alice MBOXNAME user.alice.Sent)") == ["OK success"])
        #expect(try await client.command("APPLY SUB %(USERID alice MBOXNAME shared.folder)") == ["OK success"])
        let seen =
            "APPLY SEEN %(USERID alice UNIQUEID m558wlrs339szh95vj1dose3 LASTREAD 1795435154 LASTUID 1 LASTCHANGE 1795435154 SEENUIDS 1)"
        #expect(try await client.command(seen) == ["OK success"])
    }

    @Test func theCapturedMessagesAreWhatTheirGUIDsSay() {
        #expect(Self.m1.count == 161 && Self.sha1(Self.m1) == "5e700f531dd4f657ffddb5ecdec9cb52a4464033")
        #expect(Self.m2.count == 166 && Self.sha1(Self.m2) == "0a1e104b2d6d517dc6e0cf24a1ed3aa7bbebfc05")
        #expect(Self.m3.count == 163 && Self.sha1(Self.m3) == "b13789dcde0c0a0e226518309a6fb1a953be3c9f")
        #expect(Self.m4.count == 111 && Self.sha1(Self.m4) == "6cde83a0be6945226dc22cf647c994d66bfb80cc")
    }

    @Test func firstSyncThenRollingDeltaAsCyrusSentThem() async throws {
        let server = try SyncTestServer()
        let client = try await server.login()
        #expect(client.banner == ["* SASL PLAIN", "* OK localhost Corvid sync server"])
        try await Self.firstSync(client)
        #expect(try await client.command("EXIT") == ["OK Finished"])
        #expect(try await client.isClosed())

        // The stored state, field by field.
        let state = try #require(
            try await server.store.replicaState(of: MailboxName(internal: "user.alice"), records: true)
        )
        #expect(state.mailbox.uniqueID == "u5298fpmemrf8j6ekg2324b0")
        #expect(state.mailbox.uidValidity == UIDValidity(1_795_435_144) && state.mailbox.lastUID == 3)
        #expect(state.mailbox.highestModSeq == ModSeq(9) && state.mailbox.folderModSeq == ModSeq(7))
        #expect(state.records.map(\.uid.rawValue) == [1, 2, 3])
        #expect(state.records[0].flags == FlagSet([.seen, Flag("$Custom")!]))
        #expect(state.records[2].annotations.map(\.entry) == ["/comment"])
        #expect(try await server.store.messageBytes(state.records[0].guid) == .init(bytes: Self.m1))

        // §10.2, a later session: GET MAILBOXES answers what the Cyrus replica answered.
        let rolling = try await server.login()
        let mailboxes = try await rolling.command("GET MAILBOXES (user.alice user.alice.Archive.2020)")
        #expect(
            mailboxes == [
                "* MAILBOX %(UNIQUEID u5298fpmemrf8j6ekg2324b0 MBOXNAME user.alice SYNC_CRC 2501713581 SYNC_CRC_ANNOT 2636566164 LAST_UID 3 HIGHESTMODSEQ 9 RECENTUID 3 RECENTTIME 1795435144 LAST_APPENDDATE 1795435144 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795435144 PARTITION default ACL \"alice\tlrswipkxtecdan\t\" OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 7 ANNOTATIONS (%(ENTRY /comment USERID \"\" MODSEQ 0 VALUE \"shared note\")))",
                "* MAILBOX %(UNIQUEID 0gugc0xc1629oqnrbaqt93vg MBOXNAME user.alice.Archive.2020 SYNC_CRC 0 SYNC_CRC_ANNOT 12345678 LAST_UID 0 HIGHESTMODSEQ 1 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795435144 PARTITION default ACL \"alice\tlrswipkxtecdan\t\" OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 1)",
                "OK success",
            ]
        )
        let reserve =
            "APPLY RESERVE %(PARTITION default MBOXNAME (user.alice user.alice.Archive.2020) GUID (6cde83a0be6945226dc22cf647c994d66bfb80cc 5e700f531dd4f657ffddb5ecdec9cb52a4464033 0a1e104b2d6d517dc6e0cf24a1ed3aa7bbebfc05))"
        #expect(
            try await rolling.command(reserve) == [
                "* MISSING (6cde83a0be6945226dc22cf647c994d66bfb80cc)", "OK success",
            ]
        )
        rolling.send(
            Array("APPLY MESSAGE (%{default 6cde83a0be6945226dc22cf647c994d66bfb80cc 111}\r\n".utf8) + Self.m4
                + Array(")\r\n".utf8)
        )
        #expect(try await rolling.readResponse() == ["OK success"])
        let inboxDelta = """
            APPLY MAILBOX %(UNIQUEID u5298fpmemrf8j6ekg2324b0 MBOXNAME user.alice SYNC_CRC 86072019 SYNC_CRC_ANNOT 2055547960 LAST_UID 4 HIGHESTMODSEQ 11 RECENTUID 4 RECENTTIME 1795435244 LAST_APPENDDATE 1795435244 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795435144 PARTITION default ACL \(Self.acl) OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 7 ANNOTATIONS (%(ENTRY /comment USERID "" MODSEQ 0 VALUE "shared note")) SINCE_MODSEQ 9 SINCE_CRC 2501713581 SINCE_CRC_ANNOT 2636566164 RECORD (%(UID 2 MODSEQ 10 LAST_UPDATED 1795435244 FLAGS (\\Answered \\Flagged) INTERNALDATE 1795435143 SIZE 166 GUID 0a1e104b2d6d517dc6e0cf24a1ed3aa7bbebfc05 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID "" MODSEQ 0 VALUE 1795435144) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID "" MODSEQ 0 VALUE 3))) %(UID 4 MODSEQ 11 LAST_UPDATED 1795435244 FLAGS () INTERNALDATE 1795435244 SIZE 111 GUID 6cde83a0be6945226dc22cf647c994d66bfb80cc ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID "" MODSEQ 0 VALUE 1795435244) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID "" MODSEQ 0 VALUE 11)))))
            """
        #expect(try await rolling.command(inboxDelta) == ["OK success"])
        let archiveDelta = """
            APPLY MAILBOX %(UNIQUEID 0gugc0xc1629oqnrbaqt93vg MBOXNAME user.alice.Archive.2020 SYNC_CRC 3723570714 SYNC_CRC_ANNOT 3487200798 LAST_UID 2 HIGHESTMODSEQ 3 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 1795435244 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1795435144 PARTITION default ACL \(Self.acl) OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 1 SINCE_MODSEQ 1 SINCE_CRC 0 SINCE_CRC_ANNOT 12345678 RECORD (%(UID 1 MODSEQ 2 LAST_UPDATED 1795435244 FLAGS (\\Seen $Custom) INTERNALDATE 1795435143 SIZE 161 GUID 5e700f531dd4f657ffddb5ecdec9cb52a4464033 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID "" MODSEQ 0 VALUE 1795435244) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID "" MODSEQ 0 VALUE 2))) %(UID 2 MODSEQ 3 LAST_UPDATED 1795435244 FLAGS (\\Answered \\Flagged) INTERNALDATE 1795435143 SIZE 166 GUID 0a1e104b2d6d517dc6e0cf24a1ed3aa7bbebfc05 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID "" MODSEQ 0 VALUE 1795435244) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID "" MODSEQ 0 VALUE 3)))))
            """
        #expect(try await rolling.command(archiveDelta) == ["OK success"])
        #expect(try await rolling.command("RESTART") == ["OK Restarting"])
        // The same delta again is based on a state the replica has left: IMAP_SYNC_CHANGED.
        #expect(try await rolling.command(inboxDelta) == ["NO IMAP_SYNC_CHANGED Changed since last sync"])
        #expect(try await rolling.command("EXIT") == ["OK Finished"])
        let after = try #require(
            try await server.store.replicaState(of: MailboxName(internal: "user.alice"), records: true)
        )
        #expect(after.mailbox.highestModSeq == ModSeq(11) && after.records.count == 4)
        #expect(await server.store.check().problems.isEmpty)
    }
}
