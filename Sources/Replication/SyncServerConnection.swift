import Logging
import MailCore
import MailStore
import Metrics
import NIOCore
import ServerSupport
import SyncCodec

/// Runs the replica side of csync sessions (sync-protocol §1): the banner, SASL PLAIN for
/// admins, STARTTLS and COMPRESS, then GET and APPLY against the store, one command at a time.
///
/// Transport-agnostic like the IMAP and POP3 drivers: input is any async sequence of byte
/// chunks and output goes through a ``SyncTransport``, so tests run sessions in memory.
public struct SyncServerConnection: Sendable {
    let configuration: SyncServerConfiguration
    let store: any MailStore
    let authenticator: any SyncAuthenticator
    let logger: Logger
    /// The store's mailbox checksums, shared by every session of this server.
    let checksums: SyncChecksumCache

    public init(
        configuration: SyncServerConfiguration,
        store: any MailStore,
        authenticator: any SyncAuthenticator,
        logger: Logger,
        checksums: SyncChecksumCache = SyncChecksumCache()
    ) {
        self.configuration = configuration
        self.store = store
        self.authenticator = authenticator
        self.logger = logger
        self.checksums = checksums
    }

    /// Runs one session until EXIT, the end of input or a fatal protocol error. Uploads the
    /// session staged and did not use are discarded however it ends.
    public func run<Input: AsyncSequence & Sendable>(
        peer: String,
        input: Input,
        transport: some SyncTransport,
        tlsActive: Bool
    ) async throws where Input.Element == ByteBuffer {
        var logger = self.logger
        logger[metadataKey: "session.id"] = "\(SessionID.next())"
        logger[metadataKey: "peer"] = "\(peer)"
        SyncMetrics.connections.increment()
        let runner = SyncServerRunner(connection: self, transport: transport, tlsActive: tlsActive, logger: logger)
        do {
            try await runner.run(input)
        } catch {
            await runner.discardUploads()
            throw error
        }
        await runner.discardUploads()
    }
}

/// One session's state and loop; confined to the session's task.
final class SyncServerRunner<Transport: SyncTransport> {
    let connection: SyncServerConnection
    let transport: Transport
    var logger: Logger
    var session: SyncServerSession
    var decoder: SyncDecoder
    var pending = ByteBuffer()
    var out = ByteBuffer()
    var received = 0
    var dropThrough = 0
    /// The reserve list: uploaded messages by GUID, until RESTART, EXIT or the end (§3.4.1).
    var uploads: [MessageGUID: StagedMessage] = [:]
    /// Files of the command line being read; kept only if the line parses.
    var lineUploads: [StagedMessage] = []
    /// Problems with the files of the line being read (wrong GUID, unknown partition…).
    var lineProblems: [String] = []
    /// The file literal being received.
    var currentFile: (file: FileLiteral, writer: (any MessageStagingWriter)?)?
    /// AUTHENTICATE PLAIN without an initial response is waiting for it.
    var awaitingSASL = false

    var store: any MailStore { connection.store }
    var checksums: SyncChecksumCache { connection.checksums }
    var configuration: SyncServerConfiguration { connection.configuration }

    init(connection: SyncServerConnection, transport: Transport, tlsActive: Bool, logger: Logger) {
        self.connection = connection
        self.transport = transport
        self.logger = logger
        session = SyncServerSession(configuration: connection.configuration, tlsActive: tlsActive)
        decoder = SyncDecoder(role: .replica, limits: connection.configuration.limits)
    }

    /// Named limit: response bytes buffered before they are written out mid-response.
    static var flushThreshold: Int { 256 * 1024 }

    func run<Input: AsyncSequence>(_ input: Input) async throws where Input.Element == ByteBuffer {
        writeBanner()
        try await flush()
        for try await chunk in input {
            received += chunk.readableBytes
            if received <= dropThrough { continue }
            var chunk = chunk
            pending.writeBuffer(&chunk)
            let keepGoing = try await processInput()
            try await flush()
            if !keepGoing { return }
            if pending.readableBytes == 0 { pending = ByteBuffer() } else { pending.discardReadBytes() }
        }
    }

    /// `* SASL PLAIN`, `* STARTTLS`, `* COMPRESS DEFLATE` as they apply, then `* OK` (§1.3).
    func writeBanner() {
        for line in session.bannerCapabilities { out.writeString("* \(line)\r\n") }
        out.writeString("* OK \(configuration.serverName) Corvid sync server\r\n")
    }

    func flush() async throws {
        guard out.readableBytes > 0 else { return }
        let buffer = out
        out = ByteBuffer()
        try await transport.write(buffer)
    }

    /// Written before every status line: the tag and a space in the IMAP flavour, else nothing.
    var statusPrefix = ""

    func send(_ status: SyncStatus) {
        out.writeString(statusPrefix)
        status.write(into: &out)
    }

    /// Writes one `* KEY value` data line; file bodies come from `fileBody`.
    func sendData(_ key: String, _ value: DList, fileBody: (FileLiteral) -> [UInt8] = { _ in [] }) {
        SyncResponse.data(DList.Item(key, value)).write(into: &out, fileBody: fileBody)
    }

    enum Outcome {
        case `continue`, stop
        /// A layer change: drop input received up to this byte count.
        case layerChanged(through: Int)
    }

    /// Handles everything decodable in `pending`; false once the session must end.
    func processInput() async throws -> Bool {
        while true {
            let events = decoder.decode(&pending)
            if events.isEmpty { return true }
            for event in events {
                switch try await handle(event) {
                case .continue:
                    if out.readableBytes >= Self.flushThreshold { try await flush() }
                case .stop:
                    return false
                case .layerChanged(let through):
                    let dropped = pending.readableBytes + max(through - received, 0)
                    if dropped > 0 {
                        logger.notice("dropped input sent before the layer change", metadata: ["bytes": "\(dropped)"])
                    }
                    dropThrough = through
                    pending.clear()
                    decoder.resume()
                    return true
                }
            }
        }
    }

    func handle(_ event: SyncDecoder.Event) async throws -> Outcome {
        switch event {
        case .fileLiteralStarted(let file):
            await fileStarted(file)
            return .continue
        case .fileLiteralBytesReceived(let bytes):
            await fileBytes(bytes)
            return .continue
        case .fileLiteralFinished:
            await fileFinished()
            return .continue
        case .errorDetected(let error):
            await dropLineUploads()
            SyncMetrics.protocolErrors.increment()
            logger.notice("bad csync input", metadata: ["error": "\(error)"])
            send(error.reply)
            return error.recovery == .mustClose ? .stop : .continue
        case .saslResponseReceived(let text):
            awaitingSASL = false
            return await finishAuthentication(response: text)
        case .continuationRequested:
            return .continue
        case .responseReceived:
            return .continue
        case .commandReceived(let command):
            for staged in lineUploads { keep(staged) }
            lineUploads = []
            let problems = lineProblems
            lineProblems = []
            switch session.commandReceived(command) {
            case .refuse(let status):
                for staged in uploadsToDrop(after: command) { await store.discardStagedMessage(staged) }
                send(status)
                return .continue
            case .run:
                return try await execute(command, fileProblems: problems)
            }
        }
    }

    /// A refused command's uploads are not kept.
    func uploadsToDrop(after command: SyncCommand) -> [StagedMessage] {
        guard case .apply(let item) = command, item.key == "MESSAGE" else { return [] }
        var dropped: [StagedMessage] = []
        for value in item.value.listValue ?? [] {
            if let guid = value.fileValue?.messageGUID, let staged = uploads.removeValue(forKey: guid) {
                dropped.append(staged)
            }
        }
        return dropped
    }

    func execute(_ command: SyncCommand, fileProblems: [String]) async throws -> Outcome {
        switch command {
        case .noop:
            send(SyncStatus(.ok, text: "Noop completed"))
        case .restart:
            await discardUploads()
            send(SyncStatus(.ok, text: "Restarting"))
        case .exit:
            await discardUploads()
            send(SyncStatus(.ok, text: "Finished"))
            return .stop
        case .authenticate(let mechanism, let initial):
            return await authenticate(mechanism: mechanism, initialResponse: initial)
        case .startTLS:
            return try await startTLS()
        case .compress(let algorithm):
            return try await startCompression(algorithm)
        case .restore:
            send(.no(.protocolError))
        case .get(let item):
            SyncMetrics.commands(item.key, kind: "GET").increment()
            await get(item)
        case .apply(let item):
            SyncMetrics.commands(item.key, kind: "APPLY").increment()
            await apply(item, fileProblems: fileProblems)
        }
        return .continue
    }

    // MARK: Authentication (§1.6)

    func authenticate(mechanism: String, initialResponse: String?) async -> Outcome {
        decoder.resume()
        guard mechanism.uppercased() == "PLAIN" else {
            send(SyncStatus(.bad, text: "Invalid mechanism"))
            return .continue
        }
        guard session.plaintextLoginAllowed else {
            send(SyncStatus(.no, text: "Plaintext authentication needs TLS; use STARTTLS"))
            return .continue
        }
        guard let initialResponse else {
            awaitingSASL = true
            out.writeString("+ \r\n")
            decoder.expectSASLResponse()
            return .continue
        }
        return await finishAuthentication(response: initialResponse)
    }

    func finishAuthentication(response: String) async -> Outcome {
        if response == "*" {
            send(SyncStatus(.bad, text: "Client canceled authentication"))
            return .continue
        }
        let bytes = response == "=" ? [] : Base64.decode(Array(response.utf8)[...])
        guard let bytes, let plain = SASLPlainMessage(bytes) else {
            send(SyncStatus(.bad, text: "Malformed PLAIN response"))
            return .continue
        }
        guard !plain.asksForProxyAuthorization else {
            send(SyncStatus(.no, text: "Proxy authorization is not permitted"))
            return .continue
        }
        let user = plain.authenticationID
        if await connection.authenticator.authenticate(user: user, password: plain.password) {
            session.loggedIn(as: user)
            logger[metadataKey: "user"] = "\(user)"
            logger.info("csync login", metadata: ["admin": "\(configuration.admins.contains(user))"])
            send(SyncStatus(.ok, text: session.tlsActive ? "Success (tls protection)" : "Success (no protection)"))
            return .continue
        }
        session.loginFailed()
        logger.notice("csync login failed", metadata: ["login": "\(user.prefix(64))"])
        try? await Task.sleep(for: .seconds(session.failedLoginDelay))
        send(SyncStatus(.no, text: "authentication failure"))
        return session.tooManyFailedLogins ? .stop : .continue
    }

    // MARK: Layer changes (§1.7, §1.8)

    func startTLS() async throws -> Outcome {
        guard configuration.startTLSAvailable else {
            decoder.resume()
            send(SyncStatus(.bad, code: .protocolError, text: "Unrecognized command"))
            return .continue
        }
        guard !session.tlsActive else {
            decoder.resume()
            send(SyncStatus(.bad, text: "Already did a successful Starttls"))
            return .continue
        }
        try await flush()
        var reply = ByteBuffer()
        SyncStatus(.ok, text: "Begin TLS negotiation now").write(into: &reply)
        let through = try await transport.startTLS(after: reply)
        session.tlsActive = true
        writeBanner()
        return .layerChanged(through: through)
    }

    func startCompression(_ algorithm: String) async throws -> Outcome {
        guard !session.compressionActive else {
            decoder.resume()
            send(SyncStatus(.no, text: "Compression already active: DEFLATE"))
            return .continue
        }
        guard algorithm.uppercased() == "DEFLATE" else {
            decoder.resume()
            send(SyncStatus(.no, text: "Unknown compression algorithm: \(algorithm)"))
            return .continue
        }
        guard configuration.compressionAvailable else {
            decoder.resume()
            send(SyncStatus(.no, text: "ZLIB not available"))
            return .continue
        }
        try await flush()
        var reply = ByteBuffer()
        SyncStatus(.ok, text: "DEFLATE active").write(into: &reply)
        let through = try await transport.startCompression(after: reply)
        session.compressionActive = true
        return .layerChanged(through: through)
    }

    // MARK: Uploads (APPLY MESSAGE file literals, §2.5, §3.4.2)

    func fileStarted(_ file: FileLiteral) async {
        currentFile = (file, nil)
        guard case .authenticated(_, true) = session.state else {
            lineProblems.append("not authenticated as an administrator")
            return
        }
        guard configuration.partitions.contains(file.partition) else {
            lineProblems.append("unknown partition \(file.partition)")
            return
        }
        guard let guid = file.messageGUID else {
            lineProblems.append("malformed GUID \(file.guidText)")
            return
        }
        if uploads[guid] != nil { return }  // already staged: the bytes are read and dropped
        guard uploads.count + lineUploads.count < configuration.maxStagedMessages else {
            lineProblems.append("too many staged messages (limit \(configuration.maxStagedMessages)); send RESTART")
            return
        }
        do {
            currentFile = (file, try await store.beginMessage())
        } catch {
            lineProblems.append("cannot stage \(file.guidText): \(error)")
        }
    }

    func fileBytes(_ bytes: ByteBuffer) async {
        guard let writer = currentFile?.writer else { return }
        do {
            try await writer.write(bytes)
        } catch {
            lineProblems.append("cannot stage \(currentFile!.file.guidText): \(error)")
            await writer.discard()
            currentFile?.writer = nil
        }
    }

    func fileFinished() async {
        defer { currentFile = nil }
        guard let (file, writer) = currentFile, let writer else { return }
        let staged: StagedMessage
        do {
            staged = try await writer.finish()
        } catch {
            lineProblems.append("cannot stage \(file.guidText): \(error)")
            return
        }
        // The bytes must be what the master says they are (§8 item 6).
        guard staged.guid == file.messageGUID, staged.size == Int64(file.size) else {
            lineProblems.append("GUID \(file.guidText) does not match the uploaded bytes (they hash to \(staged.guid))")
            SyncMetrics.rejectedUploads.increment()
            await store.discardStagedMessage(staged)
            return
        }
        lineUploads.append(staged)
    }

    func keep(_ staged: StagedMessage) {
        if uploads[staged.guid] == nil { uploads[staged.guid] = staged }
    }

    func dropLineUploads() async {
        if let writer = currentFile?.writer { await writer.discard() }
        currentFile = nil
        for staged in lineUploads { await store.discardStagedMessage(staged) }
        lineUploads = []
        lineProblems = []
    }

    /// Drops the reserve list (RESTART, EXIT, end of session).
    func discardUploads() async {
        await dropLineUploads()
        for staged in uploads.values { await store.discardStagedMessage(staged) }
        uploads = [:]
    }
}
