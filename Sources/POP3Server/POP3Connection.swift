import Logging
import MailCore
import MailStore
import NIOCore
import POP3Codec
import ServerSupport
import WireCore

/// Runs POP3 sessions: frames input, admits commands through ``POP3Session``, runs them
/// against the store and writes responses.
///
/// Transport-agnostic like `IMAPConnection`: input is any async sequence of byte chunks and
/// output goes through a ``POP3Transport``, so tests run sessions in memory.
public struct POP3Connection: Sendable {
    let configuration: POP3Configuration
    let store: any MailStore
    let authenticator: any POP3Authenticator
    let clock: @Sendable () -> UnixTime
    let logger: Logger

    public init(
        configuration: POP3Configuration,
        store: any MailStore,
        authenticator: any POP3Authenticator,
        clock: @escaping @Sendable () -> UnixTime,
        logger: Logger
    ) {
        self.configuration = configuration
        self.store = store
        self.authenticator = authenticator
        self.clock = clock
        self.logger = logger
    }

    /// Runs one session until QUIT, the end of input, or a fatal protocol error. A session
    /// that ends any other way than QUIT deletes nothing (RFC 1939 §6).
    public func run<Input: AsyncSequence & Sendable>(
        peer: String,
        input: Input,
        transport: some POP3Transport,
        tlsActive: Bool
    ) async throws where Input.Element == ByteBuffer {
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(SessionID.next())"
        logger[metadataKey: "peer"] = "\(peer)"
        POP3Metrics.connections.increment()
        POP3Metrics.activeConnections.increment()
        defer { POP3Metrics.activeConnections.decrement() }
        let runner = POP3SessionRunner(connection: self, transport: transport, tlsActive: tlsActive, logger: logger)
        try await runner.run(input)
    }
}

/// One session's mutable state and the loop that drives it; confined to the session's task.
final class POP3SessionRunner<Transport: POP3Transport> {
    let connection: POP3Connection
    let transport: Transport
    var logger: Logger
    var session: POP3Session
    var framer: LineFramer
    var pending = ByteBuffer()
    var out = ByteBuffer()
    /// The snapshot taken at login.
    var maildrop: Maildrop?
    var loginTime: UnixTime = 0
    /// Messages read ahead of the client's RETRs, by message number.
    var prefetched: [Int: ByteBuffer] = [:]
    /// A SASL exchange waiting for the client's next line.
    var authStep: AuthStep?
    /// Input bytes received so far, and the count through which input is dropped (STLS).
    var received = 0
    var dropThrough = 0

    var store: any MailStore { connection.store }
    var configuration: POP3Configuration { connection.configuration }

    init(connection: POP3Connection, transport: Transport, tlsActive: Bool, logger: Logger) {
        self.connection = connection
        self.transport = transport
        self.logger = logger
        session = POP3Session(configuration: connection.configuration, tlsActive: tlsActive)
        framer = LineFramer(maxLineLength: connection.configuration.maxLineLength)
    }

    /// Named limit: response bytes buffered before they are written out mid-response.
    static var flushThreshold: Int { 256 * 1024 }

    func run<Input: AsyncSequence>(_ input: Input) async throws where Input.Element == ByteBuffer {
        send(.ok("\(configuration.serverName) Corvid POP3 server ready"))
        try await flush()
        for try await chunk in input {
            received += chunk.readableBytes
            // Plaintext sent before TLS took over (the layer boundary falls between reads).
            if received <= dropThrough { continue }
            var chunk = chunk
            pending.writeBuffer(&chunk)
            let keepGoing = try await processInput()
            try await flush()
            if !keepGoing { return }
            if pending.readableBytes == 0 { pending = ByteBuffer() } else { pending.discardReadBytes() }
        }
        if session.state == .transaction {
            logger.info("pop3 connection dropped; nothing deleted")
        }
    }

    // MARK: Output

    func send(_ response: POP3Response) { response.write(into: &out) }

    func flush() async throws {
        guard out.readableBytes > 0 else { return }
        let buffer = out
        out = ByteBuffer()
        try await transport.write(buffer)
    }

    // MARK: Input

    /// Handles every complete line in `pending`; false once the session must end.
    func processInput() async throws -> Bool {
        while let frame = framer.nextFrame(&pending) {
            let outcome: Outcome
            switch frame {
            case .tooLong:
                authStep = nil
                session.badCommandReceived()
                send(.err("Line too long (limit \(configuration.maxLineLength) bytes)"))
                outcome = session.tooManyErrors ? closing("Too many errors") : .continue
            case .line(let line):
                outcome = try await handle(line)
            }
            switch outcome {
            case .continue:
                if out.readableBytes >= Self.flushThreshold { try await flush() }
            case .stop:
                return false
            case .discardRest(let through):
                // STLS: anything pipelined after the command is plaintext injection (RFC 2595
                // §4 and the 2011 STARTTLS CVEs); it is dropped, never executed.
                let dropped = pending.readableBytes + max(through - received, 0)
                if dropped > 0 {
                    logger.notice("dropped input sent before TLS", metadata: ["bytes": "\(dropped)"])
                }
                dropThrough = through
                pending.clear()
                framer = LineFramer(maxLineLength: configuration.maxLineLength)
                return true
            }
        }
        return true
    }

    enum Outcome {
        case `continue`, stop
        case discardRest(through: Int)
    }

    /// Sends a last `-ERR` and ends the session.
    func closing(_ text: String, _ code: POP3ResponseCode? = nil) -> Outcome {
        send(.err(code, text))
        return .stop
    }

    func handle(_ line: ByteBuffer) async throws -> Outcome {
        if let step = authStep {
            authStep = nil
            return await continueAuthentication(step, response: line)
        }
        let command: POP3Command
        do {
            command = try POP3CommandParser.parse(line)
        } catch {
            session.badCommandReceived()
            send(.err(error.text))
            return session.tooManyErrors ? closing("Too many errors") : .continue
        }
        if session.commandCount >= configuration.maxCommandsPerSession {
            return closing("Command limit for this session reached")
        }
        switch session.commandReceived(command) {
        case .refuse(let response):
            send(response)
            return session.tooManyErrors ? closing("Too many errors") : .continue
        case .run:
            break
        }
        session.commandCompleted()
        return try await execute(command)
    }

    /// Runs an admitted command and answers it.
    func execute(_ command: POP3Command) async throws -> Outcome {
        switch command {
        case .capa:
            send(.ok("List of capabilities follows"))
            POP3MessageEncoder.writeLines(session.capabilities, into: &out)
        case .quit:
            return await quit()
        case .stls:
            return try await startTLS()
        case .user(let name):
            return user(name)
        case .pass(let password):
            return await pass(password)
        case .auth(let mechanism, let initial):
            return await authenticate(mechanism: mechanism, initialResponse: initial)
        case .stat:
            let (count, size) = maildrop!.statistics
            send(.ok("\(count) \(size)"))
        case .list(let number):
            list(number)
        case .uidl(let number):
            uidl(number)
        case .retr(let number):
            try await retrieve(number, bodyLines: nil)
        case .top(let number, let lines):
            try await retrieve(number, bodyLines: lines)
        case .dele(let number):
            if maildrop!.markDeleted(number) {
                send(.ok("Message \(number) deleted"))
            } else {
                send(.err("No such message"))
            }
        case .noop:
            send(.ok(""))
        case .rset:
            maildrop!.reset()
            let (count, size) = maildrop!.statistics
            send(.ok("Maildrop has \(count) messages (\(size) octets)"))
        }
        return .continue
    }

    // MARK: STLS

    func startTLS() async throws -> Outcome {
        guard configuration.startTLSAvailable else { return reply(.err("STLS is not available")) }
        guard !session.tlsActive else { return reply(.err("Already successfully executed STLS")) }
        try await flush()
        var reply = ByteBuffer()
        POP3Response.ok("Begin TLS negotiation now").write(into: &reply)
        let through = try await transport.startTLS(after: reply)
        session.tlsActive = true
        return .discardRest(through: through)
    }

    /// Sends a response; the session goes on.
    func reply(_ response: POP3Response) -> Outcome {
        send(response)
        return .continue
    }
}
