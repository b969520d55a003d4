import LMTPCodec
import MailCore
import Testing

@testable import LMTPServer

/// The state machine alone: events in, actions out, no I/O.
@Suite struct LMTPSessionTests {
    let config = LMTPConfiguration(serverName: "mx.test", maxMessageSize: 100, maxRecipients: 2, maxErrors: 4)
    let alice = MailPath(localPart: "alice", domain: "example.com")

    func ready() -> LMTPSession {
        var session = LMTPSession(configuration: config)
        _ = session.commandReceived(.lhlo("client"))
        return session
    }

    @Test func lhloAdvertisesExtensions() {
        var session = LMTPSession(configuration: config)
        guard case .send(let replies) = session.commandReceived(.lhlo("c")) else {
            Issue.record("no reply")
            return
        }
        #expect(replies[0].lines == ["mx.test", "8BITMIME", "ENHANCEDSTATUSCODES", "PIPELINING", "SIZE 100"])
    }

    @Test func commandsBeforeLHLOAreRefused() {
        var session = LMTPSession(configuration: config)
        #expect(session.commandReceived(.mailFrom(nil, parameters: [])) == .send([.needLHLO]))
        #expect(session.commandReceived(.noop) == .send([.noopOK]))
    }

    @Test func sequenceErrorsGet503() {
        var session = ready()
        #expect(session.commandReceived(.rcptTo(alice, parameters: [])) == .send([.needMail]))
        #expect(session.commandReceived(.data) == .send([.needMail]))
        _ = session.commandReceived(.mailFrom(nil, parameters: []))
        #expect(session.commandReceived(.mailFrom(nil, parameters: [])) == .send([.nestedMail]))
        #expect(session.commandReceived(.data) == .send([.needRecipient]))
    }

    @Test func declaredSizeOverLimitIsRefusedAtMail() {
        var session = ready()
        let action = session.commandReceived(
            .mailFrom(nil, parameters: [ESMTPParameter(keyword: "SIZE", value: "101")])
        )
        #expect(action == .send([.messageTooBig]))
        #expect(session.commandReceived(.rcptTo(alice, parameters: [])) == .send([.needMail]))
    }

    @Test func fullTransactionWithOneRejectedRecipient() throws {
        var session = ready()
        #expect(
            session.commandReceived(.mailFrom(nil, parameters: [ESMTPParameter(keyword: "SIZE", value: "10")]))
                == .send([.senderOK])
        )
        #expect(session.commandReceived(.rcptTo(alice, parameters: [])) == .resolveRecipient(alice, declaredSize: 10))
        let inbox = try MailboxName(internal: "user.alice")
        #expect(session.recipientResolved(.accepted(inbox)) == .send([.recipientOK]))
        let bob = MailPath(localPart: "bob", domain: nil)
        _ = session.commandReceived(.rcptTo(bob, parameters: []))
        #expect(session.recipientResolved(.rejected(.unknownUser)) == .send([.unknownUser]))
        guard case .beginData(let envelope, _) = session.commandReceived(.data) else {
            Issue.record("DATA did not begin")
            return
        }
        #expect(envelope.recipients.map(\.address) == [alice])
        #expect(session.isReceivingData)
        #expect(session.dataReceived(count: 50) == .writeData)
        guard case .deliver(let delivering) = session.dataFinished() else {
            Issue.record("no delivery")
            return
        }
        #expect(delivering.recipients.count == 1)
        #expect(session.deliveryFinished([.recipientOK]) == .send([.recipientOK]))
        #expect(
            session.commandReceived(.mailFrom(nil, parameters: [])) == .send([.senderOK]),
            "a new transaction may start"
        )
    }

    @Test func oversizeBodyIsDiscardedAndEveryRecipientGets552() throws {
        var session = ready()
        _ = session.commandReceived(.mailFrom(nil, parameters: []))
        for name in ["a", "b"] {
            _ = session.commandReceived(.rcptTo(MailPath(localPart: name, domain: nil), parameters: []))
            _ = session.recipientResolved(.accepted(try MailboxName(internal: "user." + name)))
        }
        _ = session.commandReceived(.data)
        #expect(session.dataReceived(count: 80) == .writeData)
        #expect(session.dataReceived(count: 80) == .discardData)
        #expect(session.dataReceived(count: 1) == .discardData)
        #expect(session.dataFinished() == .abandonData([.messageTooBig, .messageTooBig]))
    }

    @Test func recipientLimitIsEnforced() throws {
        var session = ready()
        _ = session.commandReceived(.mailFrom(nil, parameters: []))
        for name in ["a", "b"] {
            _ = session.commandReceived(.rcptTo(MailPath(localPart: name, domain: nil), parameters: []))
            _ = session.recipientResolved(.accepted(try MailboxName(internal: "user." + name)))
        }
        #expect(session.commandReceived(.rcptTo(alice, parameters: [])) == .send([.tooManyRecipients]))
    }

    @Test func repeatedErrorsCloseTheSession() {
        var session = ready()
        for _ in 0..<3 { #expect(session.parseErrorReceived(.unrecognized) == .send([.unrecognized])) }
        #expect(session.parseErrorReceived(.unrecognized) == .close(.tooManyErrors))
    }

    @Test func unknownMailParameterGets555() {
        var session = ready()
        #expect(
            session.commandReceived(.mailFrom(nil, parameters: [ESMTPParameter(keyword: "XFOO", value: nil)]))
                == .send([.badParameter])
        )
    }
}
