import LMTPCodec
import Logging
import MailCore
import MailStore
import Metrics
import NIOCore
import ServerSupport
import WireCore

/// Drives one LMTP connection: frames input, runs ``LMTPSession``, performs its actions.
///
/// Transport-agnostic: it reads byte chunks from any async sequence and writes through a
/// closure, so the runtime wires it to a NIO channel and tests wire it to in-memory streams.
/// Replies to pipelined commands are collected and written once per read (RFC 2920).
public struct LMTPConnection: Sendable {
    let configuration: LMTPConfiguration
    let store: any MailStore
    let resolver: RecipientResolver
    let clock: @Sendable () -> UnixTime
    let logger: Logger
    /// `sync_ack: replica`: 250 only once a replica holds the message.
    let replicaAck: (any ReplicaAcknowledgement)?
    /// Closed on a fenced replica (`corvid failover`): deliveries get 451 4.3.2.
    let writeGate: WriteGate?

    public init(
        configuration: LMTPConfiguration,
        store: any MailStore,
        clock: @escaping @Sendable () -> UnixTime,
        logger: Logger,
        replicaAck: (any ReplicaAcknowledgement)? = nil,
        writeGate: WriteGate? = nil
    ) {
        self.configuration = configuration
        self.store = store
        self.resolver = RecipientResolver(store: store, downcase: configuration.downcaseRecipients)
        self.clock = clock
        self.logger = logger
        self.replicaAck = replicaAck
        self.writeGate = writeGate
    }

    /// Information about the peer for trace headers and logs.
    public struct Peer: Sendable {
        public var address: String
        public init(address: String) { self.address = address }
    }

    /// Runs the session until the peer quits, the input ends or a write fails.
    public func run<Input: AsyncSequence & Sendable>(
        peer: Peer,
        input: Input,
        write: @Sendable (ByteBuffer) async throws -> Void
    ) async throws where Input.Element == ByteBuffer {
        let sessionID = SessionID.next()
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(sessionID)"
        logger[metadataKey: "peer"] = "\(peer.address)"
        logger.debug("lmtp session opened")
        LMTPMetrics.connections.increment()
        LMTPMetrics.activeConnections.increment()
        defer { LMTPMetrics.activeConnections.decrement() }

        var state = DriverState(configuration: configuration, sessionID: sessionID)
        var out = ByteBuffer()
        reply(state.session.greeting(), into: &out)
        try await write(out)

        var pending = ByteBuffer()
        do {
            for try await chunk in input {
                var chunk = chunk
                pending.writeBuffer(&chunk)
                out.clear()
                let keepGoing = try await process(&pending, &state, &out, peer: peer, logger: logger)
                if out.readableBytes > 0 { try await write(out) }
                if !keepGoing { break }
                pending.discardReadBytes()
            }
        } catch {
            logger.debug("lmtp session ended with error", metadata: ["error": "\(error)"])
            await state.staging?.discard()
            throw error
        }
        await state.staging?.discard()
        logger.debug("lmtp session closed")
    }

    struct DriverState {
        var session: LMTPSession
        var framer: LineFramer
        var unstuffer = DotUnstuffer()
        var staging: (any MessageStagingWriter)?
        /// Body bytes not yet handed to `staging` (one write per ``bodyFlushThreshold``).
        var body = ByteBuffer()
        var heloName = "unknown"
        let sessionID: String
        var messageCount = 0

        init(configuration: LMTPConfiguration, sessionID: String) {
            session = LMTPSession(configuration: configuration)
            framer = LineFramer(maxLineLength: configuration.maxCommandLine)
            self.sessionID = sessionID
        }
    }

    /// Processes everything complete in `pending`; returns false once the session is over.
    private func process(
        _ pending: inout ByteBuffer,
        _ state: inout DriverState,
        _ out: inout ByteBuffer,
        peer: Peer,
        logger: Logger
    ) async throws -> Bool {
        while true {
            if state.session.isReceivingData {
                let decoded = state.unstuffer.decode(&pending)
                if decoded.readableBytes > 0 {
                    if case .writeData = state.session.dataReceived(count: decoded.readableBytes) {
                        var decoded = decoded
                        state.body.writeBuffer(&decoded)
                        if state.body.readableBytes >= Self.bodyFlushThreshold {
                            await flushBody(&state, logger: logger)
                        }
                    } else {
                        state.body.clear()
                    }
                }
                guard state.unstuffer.isFinished else { return true }
                state.unstuffer = DotUnstuffer()
                await flushBody(&state, logger: logger)
                let action = state.staging == nil ? state.session.dataFailed() : state.session.dataFinished()
                if try await perform(action, &state, &out, peer: peer, logger: logger) == false { return false }
                continue
            }
            guard let frame = state.framer.nextFrame(&pending) else { return true }
            let action: LMTPSession.Action
            switch frame {
            case .tooLong:
                action = state.session.lineTooLongReceived()
            case .line(let line):
                do {
                    let command = try LMTPCommandParser.parseCommand(line)
                    if case .lhlo(let name) = command { state.heloName = String(name.prefix(255)) }
                    action = state.session.commandReceived(command)
                } catch {
                    action = state.session.parseErrorReceived(error)
                }
            }
            if try await perform(action, &state, &out, peer: peer, logger: logger) == false { return false }
        }
    }

    /// Runs one action; returns false when the connection must close.
    private func perform(
        _ action: LMTPSession.Action,
        _ state: inout DriverState,
        _ out: inout ByteBuffer,
        peer: Peer,
        logger: Logger
    ) async throws -> Bool {
        var action = action
        while true {
            switch action {
            case .send(let replies):
                for item in replies { reply(item, into: &out) }
                return true
            case .close(let final):
                reply(final, into: &out)
                return false
            case .resolveRecipient(let path, let declaredSize):
                let resolution = await resolver.resolve(path, declaredSize: declaredSize)
                action = state.session.recipientResolved(resolution)
            case .beginData(let envelope, let go):
                do {
                    state.staging = try await store.beginMessage()
                    state.body.clear()
                    var headers = traceHeaders(envelope, peer: peer, state: state)
                    state.body.writeBuffer(&headers)
                } catch {
                    logger.error("cannot stage message", metadata: ["error": "\(error)"])
                    state.staging = nil
                }
                reply(go, into: &out)
                return true
            case .writeData, .discardData:
                return true
            case .abandonData(let replies):
                await state.staging?.discard()
                state.staging = nil
                for item in replies { reply(item, into: &out) }
                return true
            case .deliver(let envelope):
                guard let staging = state.staging else {
                    action = state.session.deliveryFinished(envelope.recipients.map { _ in .temporaryFailure })
                    continue
                }
                state.staging = nil
                let replies = await deliver(envelope, staging: staging, state: &state, logger: logger)
                action = state.session.deliveryFinished(replies)
            }
        }
    }

    /// Named limit: body bytes buffered per session before they are written to staging.
    static let bodyFlushThreshold = 64 * 1024

    private func flushBody(_ state: inout DriverState, logger: Logger) async {
        guard state.body.readableBytes > 0 else { return }
        defer { state.body.clear() }
        guard let staging = state.staging else { return }
        do {
            try await staging.write(state.body)
        } catch {
            logger.error("staging write failed", metadata: ["error": "\(error)"])
            await staging.discard()
            state.staging = nil
        }
    }

    private func deliver(
        _ envelope: LMTPSession.Envelope,
        staging: any MessageStagingWriter,
        state: inout DriverState,
        logger: Logger
    ) async -> [LMTPReply] {
        let started = clock()
        let staged: StagedMessage
        do {
            staged = try await staging.finish()
        } catch {
            logger.error("cannot finish staged message", metadata: ["error": "\(error)"])
            await staging.discard()
            return envelope.recipients.map { _ in .temporaryFailure }
        }
        guard writeGate?.enter() ?? true else {
            await store.discardStagedMessage(staged)
            logger.notice("delivery refused: this server is a fenced replica")
            return envelope.recipients.map { _ in .fenced }
        }
        let now = clock()
        let targets = envelope.recipients.map { DeliveryTarget(mailbox: $0.mailbox, internalDate: now) }
        let results = await store.deliver(staged, to: targets)
        writeGate?.leave()
        state.messageCount += 1
        var replies: [LMTPReply] = []
        for (recipient, result) in zip(envelope.recipients, results) {
            switch result {
            case .success(let appended):
                replies.append(.delivered("\(state.sessionID)-\(state.messageCount)"))
                LMTPMetrics.delivered.increment()
                LMTPMetrics.deliveredBytes.increment(by: Int(staged.size))
                logger.info(
                    "delivered",
                    metadata: [
                        "mailbox": "\(recipient.mailbox)", "uid": "\(appended.uid)", "guid": "\(staged.guid)",
                        "size": "\(staged.size)",
                    ]
                )
            case .failure(let error):
                replies.append(LMTPReply(for: error))
                LMTPMetrics.refused(error.code.rawValue).increment()
                logger.notice("delivery refused", metadata: ["mailbox": "\(recipient.mailbox)", "error": "\(error)"])
            }
        }
        await awaitReplicas(envelope, results, &replies, logger: logger)
        LMTPMetrics.deliverySeconds.recordNanoseconds(Int64((clock() - started) * 1e9))
        return replies
    }

    /// `sync_ack: replica`: the 250s wait until a replica holds the message. If none does in
    /// time, the copies are taken back out and those recipients get 451, so the sender retries
    /// and never holds a 250 for mail only this machine has.
    private func awaitReplicas(
        _ envelope: LMTPSession.Envelope,
        _ results: [Result<AppendedMessage, MailStoreError>],
        _ replies: inout [LMTPReply],
        logger: Logger
    ) async {
        guard let replicaAck else { return }
        let delivered = zip(envelope.recipients, results).enumerated().compactMap {
            index,
            pair -> (Int, AppendedMessage)? in
            guard case .success(let appended) = pair.1 else { return nil }
            return (index, appended)
        }
        guard !delivered.isEmpty else { return }
        if await replicaAck.waitForReplicas(of: delivered.map(\.1.mailbox)) { return }
        LMTPMetrics.replicaTimeouts.increment()
        for (index, appended) in delivered {
            _ = try? await store.expunge(uids: [appended.uid], in: appended.mailbox)
            replies[index] = .notReplicated
            logger.warning(
                "no replica confirmed the delivery in time; taken back, 451",
                metadata: ["mailbox": "\(appended.mailbox)", "uid": "\(appended.uid)"]
            )
        }
    }

    /// `Return-Path:` and `Received:` (RFC 5321 §4.4), prepended to the stored message.
    private func traceHeaders(_ envelope: LMTPSession.Envelope, peer: Peer, state: DriverState) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString("Return-Path: <\(envelope.sender?.description ?? "")>\r\n")
        buffer.writeString(
            "Received: from \(sanitize(state.heloName)) (\(sanitize(peer.address)))\r\n"
                + "\tby \(configuration.serverName) (Corvid) with LMTP id \(state.sessionID)-\(state.messageCount + 1);\r\n"
                + "\t\(RFC5322Date.format(clock()))\r\n"
        )
        return buffer
    }

    private func sanitize(_ text: String) -> String {
        String(
            text.unicodeScalars.filter { $0.value > 0x20 && $0.value < 0x7f && $0 != "(" && $0 != ")" }.map(
                Character.init
            )
        )
    }

    private func reply(_ reply: LMTPReply, into out: inout ByteBuffer) {
        reply.write(into: &out)
        if reply.code >= 400 {
            LMTPMetrics.errorReply(reply.code).increment()
        }
    }
}
