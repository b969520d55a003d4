import LMTPCodec
import MailCore

/// The LMTP protocol state machine (RFC 2033): a plain struct, no I/O, no clock.
///
/// The connection driver feeds it events and performs the ``Action`` it returns — the one
/// place where effects happen. Recipient lookup and delivery are effects: the machine asks for
/// them (`.resolveRecipient`, `.deliver`) and is told the outcome (`recipientResolved`,
/// `deliveryFinished`).
///
/// ```
/// S: 220 host LMTP Corvid ready
/// C: LHLO mta.example.org
/// S: 250-host … 250 SIZE 52428800
/// C: MAIL FROM:<a@example.org> SIZE=1234
/// S: 250 2.1.0 Ok
/// C: RCPT TO:<alice@example.com>
/// S: 250 2.1.5 Ok
/// C: DATA
/// S: 354 Go ahead
/// C: … .
/// S: 250 2.1.5 Ok          (one reply per accepted recipient)
/// ```
public struct LMTPSession: Sendable {
    /// A recipient accepted at RCPT time, with where its copy goes.
    public struct Recipient: Hashable, Sendable {
        public var address: MailPath
        public var mailbox: MailboxName

        public init(address: MailPath, mailbox: MailboxName) {
            self.address = address
            self.mailbox = mailbox
        }
    }

    /// The current transaction's envelope.
    public struct Envelope: Hashable, Sendable {
        public var sender: MailPath?
        public var declaredSize: Int?
        public var recipients: [Recipient] = []
    }

    enum State: Sendable {
        case awaitingLHLO
        case idle
        case mail(Envelope)
        case resolving(Envelope, MailPath)
        case data(Envelope, bytes: Int, tooBig: Bool)
        case delivering(Envelope)
        case closed
    }

    /// What the driver must do next.
    public enum Action: Equatable, Sendable {
        /// Send these replies (possibly none).
        case send([LMTPReply])
        /// Look the recipient up, then call ``recipientResolved(_:)``.
        case resolveRecipient(MailPath, declaredSize: Int?)
        /// Send the 354 reply, stage a new message, and switch the input to DATA mode.
        case beginData(Envelope, LMTPReply)
        /// Write these many decoded body bytes to the staged message.
        case writeData
        /// Drop body bytes: the message is already over the limit.
        case discardData
        /// Finish the staged message and deliver it to the recipients; then call ``deliveryFinished(_:)``.
        case deliver(Envelope)
        /// Throw the staged message away and send these replies.
        case abandonData([LMTPReply])
        /// Send the reply and close the connection.
        case close(LMTPReply)
    }

    /// The result of a recipient lookup.
    public enum Resolution: Equatable, Sendable {
        case accepted(MailboxName)
        case rejected(LMTPReply)
    }

    let configuration: LMTPConfiguration
    private(set) var state: State = .awaitingLHLO
    private var errors = 0

    public init(configuration: LMTPConfiguration) {
        self.configuration = configuration
    }

    /// Whether body bytes are expected (the driver decodes DATA rather than command lines).
    public var isReceivingData: Bool { if case .data = state { true } else { false } }

    /// The greeting to send when the connection opens.
    public func greeting() -> LMTPReply { .greeting(configuration.serverName) }

    // MARK: Events

    public mutating func commandReceived(_ command: LMTPCommand) -> Action {
        switch (state, command) {
        case (.closed, _), (.resolving, _), (.data, _), (.delivering, _):
            return .close(.temporaryFailure)
        case (_, .quit):
            state = .closed
            return .close(.bye(configuration.serverName))
        case (_, .noop):
            return .send([.noopOK])
        case (_, .lhlo):
            state = .idle
            return .send([.lhlo(configuration.serverName, maxSize: configuration.maxMessageSize)])
        case (.awaitingLHLO, _):
            return protocolError(.needLHLO)
        case (_, .rset):
            state = .idle
            return .send([.resetOK])
        case (.idle, .mailFrom(let sender, let parameters)):
            var envelope = Envelope(sender: sender)
            for parameter in parameters {
                switch parameter.keyword {
                case "SIZE":
                    guard let value = parameter.value, let size = Int(value), size >= 0 else {
                        return protocolError(.syntax("SIZE needs a number"))
                    }
                    if size > configuration.maxMessageSize { return .send([.messageTooBig]) }
                    envelope.declaredSize = size
                case "BODY":
                    guard let value = parameter.value?.uppercased(), value == "7BIT" || value == "8BITMIME" else {
                        return protocolError(.syntax("BODY must be 7BIT or 8BITMIME"))
                    }
                case "AUTH", "RET", "ENVID":
                    break
                default:
                    return .send([.badParameter])
                }
            }
            state = .mail(envelope)
            errors = 0
            return .send([.senderOK])
        case (.mail, .mailFrom):
            return protocolError(.nestedMail)
        case (.idle, .rcptTo):
            return protocolError(.needMail)
        case (.mail(let envelope), .rcptTo(let path, _)):
            guard envelope.recipients.count < configuration.maxRecipients else { return .send([.tooManyRecipients]) }
            state = .resolving(envelope, path)
            return .resolveRecipient(path, declaredSize: envelope.declaredSize)
        case (.idle, .data):
            return protocolError(.needMail)
        case (.mail(let envelope), .data):
            guard !envelope.recipients.isEmpty else { return protocolError(.needRecipient) }
            state = .data(envelope, bytes: 0, tooBig: false)
            return .beginData(envelope, .startData)
        }
    }

    public mutating func parseErrorReceived(_ error: LMTPParseError) -> Action {
        switch error {
        case .unrecognized: protocolError(.unrecognized)
        case .syntax(let why): protocolError(.syntax(why))
        }
    }

    public mutating func lineTooLongReceived() -> Action { protocolError(.lineTooLong) }

    public mutating func recipientResolved(_ resolution: Resolution) -> Action {
        guard case .resolving(var envelope, let path) = state else { return .close(.temporaryFailure) }
        switch resolution {
        case .accepted(let mailbox):
            envelope.recipients.append(Recipient(address: path, mailbox: mailbox))
            state = .mail(envelope)
            return .send([.recipientOK])
        case .rejected(let reply):
            state = .mail(envelope)
            return .send([reply])
        }
    }

    /// `count` decoded body bytes arrived.
    public mutating func dataReceived(count: Int) -> Action {
        guard case .data(let envelope, let bytes, let tooBig) = state else { return .close(.temporaryFailure) }
        let total = bytes + count
        let over = tooBig || total > configuration.maxMessageSize
        state = .data(envelope, bytes: total, tooBig: over)
        return over ? .discardData : .writeData
    }

    /// The end-of-data line arrived.
    public mutating func dataFinished() -> Action {
        guard case .data(let envelope, _, let tooBig) = state else { return .close(.temporaryFailure) }
        if tooBig {
            state = .idle
            return .abandonData(envelope.recipients.map { _ in .messageTooBig })
        }
        state = .delivering(envelope)
        return .deliver(envelope)
    }

    /// Staging failed before delivery could start.
    public mutating func dataFailed() -> Action {
        guard case .data(let envelope, _, _) = state else { return .close(.temporaryFailure) }
        state = .idle
        return .abandonData(envelope.recipients.map { _ in .temporaryFailure })
    }

    /// Delivery finished: one reply per recipient, in RCPT order (RFC 2033 §4.2).
    public mutating func deliveryFinished(_ replies: [LMTPReply]) -> Action {
        guard case .delivering = state else { return .close(.temporaryFailure) }
        state = .idle
        return .send(replies)
    }

    private mutating func protocolError(_ reply: LMTPReply) -> Action {
        errors += 1
        if errors >= configuration.maxErrors {
            state = .closed
            return .close(.tooManyErrors)
        }
        return .send([reply])
    }
}
