import IMAPCodec
import MailCore
import NIOCore
import ServerSupport

/// A SASL exchange in progress (AUTHENTICATE without, or beyond, an initial response).
struct AuthExchange {
    enum Step {
        /// PLAIN: waiting for `authzid NUL authcid NUL password`.
        case plain
        /// LOGIN: waiting for the user name, then the password.
        case loginUser
        case loginPassword(user: String)
    }

    var tag: String
    var step: Step
}

extension IMAPSessionRunner {
    /// LOGIN (RFC 9051 §6.2.3): refused without TLS unless `allowplaintext: yes`.
    func login(user: [UInt8], password: [UInt8]) async -> Completion {
        guard session.plaintextLoginAllowed else {
            return .no("LOGIN is disabled without TLS; use STARTTLS", .privacyRequired)
        }
        return await verify(
            user: String(decoding: user, as: UTF8.self),
            password: String(decoding: password, as: UTF8.self)
        )
    }

    /// AUTHENTICATE PLAIN / LOGIN (RFC 4616, SASL-IR RFC 4959). Nil while the exchange goes on.
    func authenticate(tag: String, mechanism: String, initialResponse: [UInt8]?) async -> Completion? {
        guard session.plaintextLoginAllowed else {
            return .no("Plaintext authentication is disabled without TLS; use STARTTLS", .privacyRequired)
        }
        switch mechanism {
        case "PLAIN":
            if let initialResponse { return await finishPlain(initialResponse) }
            authExchange = AuthExchange(tag: tag, step: .plain)
            IMAPResponse.continuation("").write(into: &out)
            return nil
        case "LOGIN":
            authExchange = AuthExchange(tag: tag, step: .loginUser)
            // "Username:" base64-encoded, as every LOGIN client expects.
            IMAPResponse.continuation(Base64.encode(Array("Username:".utf8))).write(into: &out)
            return nil
        default:
            return .no("Unsupported authentication mechanism \(mechanism)", .cannot)
        }
    }

    /// The client's answer to a continuation during AUTHENTICATE.
    func continueAuthentication(_ exchange: AuthExchange, response frame: ByteBuffer) async -> Completion? {
        let line = Array(frame.readableBytesView)
        if line == Array("*".utf8) { return .bad("AUTHENTICATE cancelled") }
        guard let decoded = Base64.decode(line[...]) else { return .bad("Response is not base64") }
        switch exchange.step {
        case .plain:
            return await finishPlain(decoded)
        case .loginUser:
            authExchange = AuthExchange(
                tag: exchange.tag,
                step: .loginPassword(user: String(decoding: decoded, as: UTF8.self))
            )
            IMAPResponse.continuation(Base64.encode(Array("Password:".utf8))).write(into: &out)
            return nil
        case .loginPassword(let user):
            return await verify(user: user, password: String(decoding: decoded, as: UTF8.self))
        }
    }

    private func finishPlain(_ message: [UInt8]) async -> Completion {
        guard let plain = SASLPlainMessage(message) else { return .bad("Malformed PLAIN response") }
        guard !plain.asksForProxyAuthorization else {
            return .no("Proxy authorization is not permitted", .authorizationFailed)
        }
        return await verify(user: plain.authenticationID, password: plain.password)
    }

    /// Checks credentials; failures are answered after a growing delay and counted.
    private func verify(user: String, password: String) async -> Completion {
        if let name = try? UserName(user.lowercased()),
            await connection.authenticator.authenticate(user: name.name, password: password)
        {
            session.loggedIn(as: name)
            logContext.user = name.name
            logger.info("imap login")
            IMAPMetrics.logins.increment()
            return .ok("Logged in", .capability(session.capabilities))
        }
        session.loginFailed()
        IMAPMetrics.failedLogins.increment()
        // The user name is logged, never the password.
        logger.notice("imap login failed", metadata: ["login": "\(user.prefix(64))"])
        try? await Task.sleep(for: .seconds(session.failedLoginDelay))
        return .no("Authentication failed", .authenticationFailed)
    }
}
