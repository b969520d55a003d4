import MailCore
import MailStore
import NIOCore
import POP3Codec
import ServerSupport

/// A SASL exchange in progress (AUTH without, or beyond, an initial response).
enum AuthStep {
    /// PLAIN: waiting for `authzid NUL authcid NUL password`.
    case plain
    /// LOGIN: waiting for the user name, then the password.
    case loginUser
    case loginPassword(user: String)
}

extension POP3SessionRunner {
    static var plaintextRefusal: String { "Plaintext authentication is disabled without TLS; use STLS" }

    /// USER (RFC 1939 §7). The reply never tells whether the name exists.
    func user(_ name: String) -> Outcome {
        guard session.plaintextLoginAllowed else { return reply(.err(.auth, Self.plaintextRefusal)) }
        session.userReceived(name)
        return reply(.ok("Name is a valid mailbox"))
    }

    /// PASS (RFC 1939 §7): only right after USER.
    func pass(_ password: String) async -> Outcome {
        guard let user = session.takePendingUser() else { return reply(.err(.auth, "Must give USER command")) }
        return await verify(user: user, password: password)
    }

    /// AUTH (RFC 5034): PLAIN and LOGIN, with or without an initial response; without a
    /// mechanism, the list of mechanisms.
    func authenticate(mechanism: String?, initialResponse: String?) async -> Outcome {
        guard let mechanism else {
            send(.ok("List of supported mechanisms follows"))
            POP3MessageEncoder.writeLines(session.plaintextLoginAllowed ? ["PLAIN", "LOGIN"] : [], into: &out)
            return .continue
        }
        guard session.plaintextLoginAllowed else { return reply(.err(.auth, Self.plaintextRefusal)) }
        var initial: [UInt8]?
        if let initialResponse {
            // "=" is an empty initial response (RFC 5034 §4).
            guard let decoded = initialResponse == "=" ? [] : Base64.decode(Array(initialResponse.utf8)[...]) else {
                return reply(.err(.auth, "Initial response is not base64"))
            }
            initial = decoded
        }
        switch mechanism {
        case "PLAIN":
            if let initial { return await finishPlain(initial) }
            authStep = .plain
            send(.continuation(""))
        case "LOGIN":
            if let initial {
                authStep = .loginPassword(user: String(decoding: initial, as: UTF8.self))
                send(.continuation(Base64.encode(Array("Password:".utf8))))
            } else {
                authStep = .loginUser
                send(.continuation(Base64.encode(Array("Username:".utf8))))
            }
        default:
            return reply(.err("Unsupported authentication mechanism \(mechanism)"))
        }
        return .continue
    }

    /// The client's line during AUTH.
    func continueAuthentication(_ step: AuthStep, response line: ByteBuffer) async -> Outcome {
        let bytes = Array(line.readableBytesView)
        if bytes == Array("*".utf8) { return reply(.err(.auth, "Client canceled authentication")) }
        guard let decoded = Base64.decode(bytes[...]) else { return reply(.err(.auth, "Response is not base64")) }
        switch step {
        case .plain:
            return await finishPlain(decoded)
        case .loginUser:
            authStep = .loginPassword(user: String(decoding: decoded, as: UTF8.self))
            send(.continuation(Base64.encode(Array("Password:".utf8))))
            return .continue
        case .loginPassword(let user):
            return await verify(user: user, password: String(decoding: decoded, as: UTF8.self))
        }
    }

    private func finishPlain(_ message: [UInt8]) async -> Outcome {
        guard let plain = SASLPlainMessage(message) else { return reply(.err(.auth, "Malformed PLAIN response")) }
        guard !plain.asksForProxyAuthorization else {
            return reply(.err(.auth, "Proxy authorization is not permitted"))
        }
        return await verify(user: plain.authenticationID, password: plain.password)
    }

    /// Checks credentials, then opens the maildrop. Failures are answered after a growing
    /// delay and counted; the user name is logged, never the password.
    private func verify(user: String, password: String) async -> Outcome {
        guard let name = try? UserName(user.lowercased()),
            await connection.authenticator.authenticate(user: name.name, password: password)
        else {
            session.loginFailed()
            POP3Metrics.failedLogins.increment()
            logger.notice("pop3 login failed", metadata: ["login": "\(user.prefix(64))"])
            try? await Task.sleep(for: .seconds(session.failedLoginDelay))
            send(.err(.auth, "Invalid login"))
            return session.tooManyFailedLogins ? closing("Too many failed logins") : .continue
        }
        return await openMaildrop(for: name)
    }

    /// Takes the INBOX snapshot the session works on (RFC 1939 §4), after the `popminpoll` check.
    private func openMaildrop(for user: UserName) async -> Outcome {
        let now = connection.clock()
        let snapshot: (Mailbox, [MessageRecord])?
        do {
            snapshot = try await store.mailboxChanges(.inbox(of: user), since: nil)
        } catch {
            logger.error("cannot open maildrop", metadata: ["user": "\(user.name)", "error": "\(error)"])
            return reply(.err(.systemTemporary, "Unable to open maildrop"))
        }
        guard let (mailbox, records) = snapshot else {
            return reply(.err(.systemPermanent, "Unable to open maildrop: the user has no INBOX"))
        }
        let minPoll = configuration.minPollSeconds
        if minPoll > 0, mailbox.pop3LastLogin + Double(minPoll) > now {
            let minutes = max(minPoll / 60, 1)
            logger.notice("pop3 login too soon", metadata: ["user": "\(user.name)"])
            return reply(.err(.loginDelay, "Logins must be at least \(minutes) minute\(minutes > 1 ? "s" : "") apart"))
        }
        let drop = Maildrop(
            mailbox: mailbox,
            records: records,
            hideDeleted: configuration.useIMAPFlags,
            limit: configuration.maxMaildropMessages
        )
        maildrop = drop
        loginTime = now
        session.loggedIn(as: user)
        logger[metadataKey: "user"] = "\(user.name)"
        logger.info("pop3 login", metadata: ["messages": "\(drop.messages.count)"])
        POP3Metrics.logins.increment()
        let (count, size) = drop.statistics
        return reply(.ok("Maildrop ready: \(count) messages (\(size) octets)"))
    }
}
