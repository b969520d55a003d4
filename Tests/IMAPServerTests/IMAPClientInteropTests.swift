import IMAPServer
import MailCore
import MailStore
import Testing

/// Regressions found by real clients (tests/integration/imap_clients.py), replayed in memory.
@Suite struct IMAPClientInteropTests {
    /// cyradm's `cm user/carol` then `dm user/carol`: the INBOX of a name with no account
    /// (created by an admin over IMAP) must be deletable, with the mailboxes below it.
    @Test func adminDeletesAUserINBOXCreatedOverIMAP() async throws {
        let server = try await IMAPTestServer()
        _ = try await server.store.createUser(try UserName("admin"), passwordVerifier: "x", quota: QuotaLimits())
        let admin = try await server.login("admin")
        #expect(try await admin.command("CREATE user/carol").last!.contains("OK"))
        #expect(try await admin.command("CREATE user/carol/sub").last!.contains("OK"))
        #expect(try await admin.command("DELETE user/carol").last!.contains("OK DELETE completed"))
        #expect(try await admin.command("LIST \"\" \"user/carol*\"").count == 1)
        // A user with an account is deleted as a whole, as before.
        #expect(try await admin.command("DELETE user/bob").last!.contains("OK DELETE completed"))
        #expect(try await server.store.user(try UserName("bob")) == nil)
    }

    /// imapclient's getacl() returns GETACL's tokens as sent: identifiers must be atoms when
    /// they can be (Cyrus's prot_printastring), or alice comes back as `"alice"`.
    @Test func getACLWritesIdentifiersAsAtoms() async throws {
        let server = try await IMAPTestServer()
        let alice = try await server.login("alice")
        #expect(try await alice.command("SETACL INBOX bob lrs").last!.contains("OK"))
        let acl = try await alice.command("GETACL INBOX")
        #expect(acl[0] == "* ACL \"INBOX\" alice lrswipkxtecdan bob lrs")
        let rights = try await alice.command("LISTRIGHTS INBOX bob")
        #expect(rights[0].hasPrefix("* LISTRIGHTS \"INBOX\" bob \"\" "))
    }
}
