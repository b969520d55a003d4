import IMAPCodec
import MailCore
import MailStore
import Testing

@testable import IMAPServer

/// The session state machine on its own: admission by state, ENABLE, capabilities, logins.
@Suite struct IMAPSessionTests {
    func session(allowPlaintext: Bool = false, tls: Bool = false) -> IMAPSession {
        IMAPSession(
            configuration: IMAPConfiguration(
                admins: ["admin"],
                allowPlaintext: allowPlaintext,
                startTLSAvailable: true
            ),
            tlsActive: tls
        )
    }

    @Test func commandsAreAdmittedOnlyInTheirStates() throws {
        var s = session()
        #expect(s.commandReceived(.capability) == .run)
        #expect(s.commandReceived(.login(user: [], password: [])) == .run)
        guard case .refuse(.bad, _, let text) = s.commandReceived(.select(MailboxArgument("INBOX"), SelectParameters()))
        else {
            Issue.record("SELECT admitted before login")
            return
        }
        #expect(text == "SELECT is not valid before login")
        s.loggedIn(as: try UserName("alice"))
        #expect(s.state == .authenticated)
        #expect(s.commandReceived(.select(MailboxArgument("INBOX"), SelectParameters())) == .run)
        #expect(s.commandReceived(.expunge) != .run)
        #expect(s.commandReceived(.login(user: [], password: [])) != .run)
        #expect(s.commandReceived(.startTLS) != .run)
    }

    @Test func capabilitiesFollowTLSAndLoginState() throws {
        let plain = session()
        #expect(plain.capabilities.contains("STARTTLS"))
        #expect(plain.capabilities.contains("LOGINDISABLED"))
        #expect(!plain.capabilities.contains("AUTH=PLAIN"))
        #expect(!plain.capabilities.contains("UIDPLUS"))
        let secure = session(tls: true)
        #expect(!secure.capabilities.contains("STARTTLS"))
        #expect(secure.capabilities.contains("AUTH=PLAIN"))
        var loggedIn = secure
        loggedIn.loggedIn(as: try UserName("bob"))
        #expect(loggedIn.capabilities.contains("UIDPLUS"))
        #expect(loggedIn.capabilities.contains("QRESYNC"))
        #expect(!loggedIn.capabilities.contains("LOGINDISABLED"))
        #expect(!loggedIn.isAdmin)
        var admin = secure
        admin.loggedIn(as: try UserName("admin"))
        #expect(admin.isAdmin)
    }

    @Test func enableReportsOnlyWhatIsNewAndQresyncImpliesCondstore() throws {
        var s = session(tls: true)
        s.loggedIn(as: try UserName("alice"))
        #expect(s.enable(["qresync", "X-UNKNOWN"]) == ["QRESYNC"])
        #expect(s.condStoreActive)
        #expect(s.enable(["CONDSTORE", "QRESYNC"]).isEmpty)
        #expect(s.enable(["IMAP4rev2"]) == ["IMAP4rev2"])
        #expect(s.rev2 && s.utf8Names)
    }

    @Test func failedLoginsBackOffAndEndTheSession() {
        var s = session(tls: true)
        var delays: [Double] = []
        for _ in 0..<5 {
            s.loginFailed()
            delays.append(s.failedLoginDelay)
        }
        #expect(delays == [1, 2, 4, 8, 8])
        #expect(s.tooManyFailedLogins)
    }

    @Test func condstoreTurnsOnWithTheFirstCommandThatUsesIt() throws {
        var s = session(tls: true)
        s.loggedIn(as: try UserName("alice"))
        let mailbox = Mailbox(
            uniqueID: "u",
            name: .inbox(of: try UserName("alice")),
            partition: "default",
            acl: ACL(),
            uidValidity: UIDValidity(1)
        )
        s.select(SelectedMailbox(mailbox: mailbox, records: [], readOnly: false), condStore: false)
        #expect(!s.condStoreActive)
        _ = s.commandReceived(.search(SearchCommand(key: .and([.all, .not(.modSeq(5))])), uid: false))
        #expect(s.condStoreActive)
    }

    @Test func consecutiveErrorsAreCountedAndResetByASuccess() {
        var s = session(tls: true)
        for _ in 0..<19 { s.badCommandReceived() }
        #expect(!s.tooManyErrors)
        s.commandCompleted()
        for _ in 0..<19 { s.badCommandReceived() }
        #expect(!s.tooManyErrors)
        s.badCommandReceived()
        #expect(s.tooManyErrors)
    }
}
