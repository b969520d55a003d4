import IMAPCodec
import Logging
import MailCore
import MailStore
import Metrics
import NIOCore
import ServerSupport

/// Runs IMAP sessions: frames input, admits commands through ``IMAPSession``, runs handlers,
/// pushes mailbox changes (IDLE) and writes responses.
///
/// Transport-agnostic like `LMTPConnection`: input is any async sequence of byte chunks and
/// output goes through an ``IMAPTransport``, so tests run sessions in memory. A class: every
/// session holds it, and it is one reference rather than a copy of all this.
public final class IMAPConnection: Sendable {
    let configuration: IMAPConfiguration
    let store: any MailStore
    let hub: MailboxChangeHub
    let authenticator: any IMAPAuthenticator
    let clock: @Sendable () -> UnixTime
    let logger: Logger
    let selections = SelectionCache()
    let searchHeaders = SearchHeaderCache()
    /// Replication on the IMAP port (`X-REPLICATION`), when this server is a replica.
    let replication: (any IMAPReplicationService)?

    public init(
        configuration: IMAPConfiguration,
        store: any MailStore,
        hub: MailboxChangeHub,
        authenticator: any IMAPAuthenticator,
        clock: @escaping @Sendable () -> UnixTime,
        logger: Logger,
        replication: (any IMAPReplicationService)? = nil
    ) {
        self.configuration = configuration
        self.store = store
        self.hub = hub
        self.authenticator = authenticator
        self.clock = clock
        self.logger = logger
        self.replication = replication
    }

    /// Runs one session until LOGOUT, the end of input, or a fatal protocol error.
    public func run<Input: AsyncSequence & Sendable>(
        peer: String,
        input: Input,
        transport: some IMAPTransport,
        tlsActive: Bool
    ) async throws where Input.Element == ByteBuffer {
        IMAPMetrics.connections.increment()
        IMAPMetrics.activeConnections.increment()
        defer { IMAPMetrics.activeConnections.decrement() }
        let runner = IMAPSessionRunner(
            connection: self,
            signal: ChangeSignal(wake: { transport.wake() }),
            transport: transport,
            tlsActive: tlsActive,
            logContext: IMAPLogContext(sessionID: "\(SessionID.next())", peer: peer)
        )
        defer { runner.stopWatching() }
        try await runner.run(input)
    }
}

/// The metadata an IMAP session's log lines carry.
struct IMAPLogContext {
    var sessionID: String
    var peer: String
    /// Set at login.
    var user: String?

    func apply(to base: Logger) -> Logger {
        var logger = base
        logger[metadataKey: "session.id"] = "\(sessionID)"
        logger[metadataKey: "peer"] = "\(peer)"
        if let user { logger[metadataKey: "user"] = "\(user)" }
        return logger
    }
}

/// Lets a value confined to one logical flow cross into a child task that the owner awaits.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// One session's mutable state and the loop that drives it. Confined to the session's task
/// (and, while it waits, to the child task it runs a chunk in).
final class IMAPSessionRunner<Transport: IMAPTransport> {
    let connection: IMAPConnection
    let signal: ChangeSignal
    let transport: Transport
    /// What this session adds to every log line (see ``logger``).
    var logContext: IMAPLogContext
    var session: IMAPSession
    var decoder: IMAPFrameDecoder
    var pending = ByteBuffer()
    /// Drops input from before a layer change (STARTTLS, COMPRESS).
    var inputFilter = InputLayerFilter()
    var out = ByteBuffer()
    /// Buffers written whole (large message bodies) and the output before each, in order,
    /// waiting for the next ``flush()``: one hand-over to the connection for many messages.
    var queued: [ByteBuffer] = []
    var queuedBytes = 0
    /// The tag of a running IDLE.
    var idleTag: String?
    /// Set when the watched mailbox changed and the view has not caught up.
    var dirty = false
    var watchToken: MailboxChangeHub.WatchToken?
    /// Set when the session must end after the current output (BYE already written).
    var mustClose = false
    /// Flag-list texts of the FETCH in progress (see `flagText`).
    var flagTextCache: [FlagSet: String] = [:]
    /// A SASL exchange waiting for the client's next response.
    var authExchange: AuthExchange?
    /// A streamed APPEND in progress.
    var append: AppendInProgress?
    /// The replication engine's session (IMAP flavour), made at the first SYNC command.
    var replicationSession: (any IMAPReplicationSession)?
    /// The tag of a SYNC command whose bytes are still arriving.
    var replicationTag: String?

    var store: any MailStore { connection.store }
    /// The server's logger with this session's metadata, made when something is logged: a
    /// logger kept per session costs its own metadata dictionary and handler copy.
    var logger: Logger { logContext.apply(to: connection.logger) }
    var configuration: IMAPConfiguration { connection.configuration }

    init(
        connection: IMAPConnection,
        signal: ChangeSignal,
        transport: Transport,
        tlsActive: Bool,
        logContext: IMAPLogContext
    ) {
        self.connection = connection
        self.signal = signal
        self.transport = transport
        self.logContext = logContext
        session = IMAPSession(configuration: connection.configuration, tlsActive: tlsActive)
        decoder = IMAPFrameDecoder(limits: connection.configuration.frameLimits)
    }

    /// Named limit: response bytes buffered before they are written out mid-command.
    static var flushThreshold: Int { 256 * 1024 }
    /// Named limit: bytes of whole buffers (``writeWhole(_:)``) queued before they are handed
    /// to the connection. They are already in memory; the queue only saves hand-overs.
    static var queueThreshold: Int { 1024 * 1024 }

    /// Drives the session over `input` until LOGOUT, the end of input, or a fatal error.
    ///
    /// This loop is all an idle session keeps: one task suspended in `next()` on its input.
    /// Mailbox changes arrive on the same input as empty chunks (see ``ChangeSignal``), and the
    /// work runs in short-lived child tasks (see ``inChildTask(_:)``). The frames down to the
    /// read stay allocated while the session waits, so the work is out of line: this frame
    /// holds little more than the iterator.
    func run<Input: AsyncSequence>(_ input: Input) async throws where Input.Element == ByteBuffer {
        try await greet()
        var iterator = input.makeAsyncIterator()
        while true {
            let next: ByteBuffer?
            do { next = try await iterator.next() } catch { next = nil }
            guard let chunk = next, try await take(chunk) else { break }
        }
        await end()
    }

    @inline(never)
    func greet() async throws {
        try await inChildTask { runner in
            runner.untagged(
                status: .ok,
                code: .capability(runner.session.capabilities),
                text: "\(runner.configuration.serverName) Corvid IMAP server ready"
            )
            try await runner.flush()
        }
    }

    /// Handles one input chunk, or a wake-up (an empty chunk); false once the session must end.
    ///
    /// Kept small for the same reason as ``run(_:)``: its frame and the ones it calls set the
    /// depth of stack the session's task keeps. The work is done in a child task.
    @inline(never)
    func take(_ chunk: ByteBuffer) async throws -> Bool {
        if chunk.readableBytes == 0 {
            guard wokenUp() else { return true }
            return try await inChildTask { runner in
                await runner.refresh(allowExpunge: true)
                try await runner.flush()
                return !runner.mustClose
            }
        }
        guard admit(chunk) else { return true }
        return try await inChildTask { runner in try await runner.processPending() }
    }

    /// A wake-up: takes the change mark; true if an IDLE should push the changes now.
    func wokenUp() -> Bool {
        signal.wakeTaken()
        if signal.takeChanged() { dirty = true }
        return dirty && idleTag != nil
    }

    /// Adds a chunk of input to `pending`, unless it predates a layer change.
    @inline(never)
    func admit(_ chunk: ByteBuffer) -> Bool {
        guard inputFilter.admit(chunk) else {
            logger.notice("dropped input sent before the layer change", metadata: ["bytes": "\(chunk.readableBytes)"])
            return false
        }
        var chunk = chunk
        pending.writeBuffer(&chunk)
        return true
    }

    /// Handles the complete commands in `pending` and writes the responses; false once the
    /// session must end.
    func processPending() async throws -> Bool {
        let keepGoing = try await processInput()
        try await flush()
        if !keepGoing || mustClose { return false }
        // An idle session keeps no input buffer (10,000 IDLE sessions add up).
        if pending.readableBytes == 0 { pending = ByteBuffer() } else { pending.discardReadBytes() }
        return true
    }

    /// Releases what a session ending mid-command holds.
    @inline(never)
    func end() async {
        await append?.staging?.discard()
        await replicationSession?.close()
    }

    /// Runs `body` in a child task and waits for it.
    ///
    /// A task keeps the memory its deepest call chain of async frames needed until it ends,
    /// and command handling is deep; measured, that was ~15 KB per idle session. Handling
    /// each input chunk in a short-lived child task returns that memory when the chunk is
    /// done, so an idle session holds only this loop's frame. The session's state is used
    /// by one task at a time: the parent waits while the child runs.
    func inChildTask<Result: Sendable>(
        _ body: @escaping (IMAPSessionRunner) async throws -> Result
    ) async throws -> Result {
        let runner = UncheckedSendable(self)
        let work = UncheckedSendable(body)
        return try await withThrowingTaskGroup(of: Result.self) { group in
            group.addTask { try await work.value(runner.value) }
            return try await group.next()!
        }
    }

    // MARK: Output

    func flush() async throws {
        if !queued.isEmpty {
            if out.readableBytes > 0 { queued.append(out) }
            out = ByteBuffer()
            let buffers = queued
            queued = []
            queuedBytes = 0
            try await transport.write(contentsOf: buffers)
            return
        }
        guard out.readableBytes > 0 else { return }
        let buffer = out
        out = ByteBuffer()
        try await transport.write(buffer)
    }

    /// Queues `buffer` to go out as it is, after everything written so far: no copy. The
    /// queue is written at the next ``flush()``, or now if it holds ``queueThreshold`` bytes.
    func writeWhole(_ buffer: ByteBuffer) async throws {
        if out.readableBytes > 0 {
            queuedBytes += out.readableBytes
            queued.append(out)
            out = ByteBuffer()
        }
        queued.append(buffer)
        queuedBytes += buffer.readableBytes
        if queuedBytes >= Self.queueThreshold { try await flush() }
    }

    func untagged(_ text: String) { IMAPResponse.untagged(text).write(into: &out) }

    func untagged(status: IMAPStatus, code: IMAPResponseCode? = nil, text: String) {
        IMAPResponse.untaggedStatus(status: status, code: code, text: text).write(into: &out)
    }

    func tagged(_ tag: String, _ completion: Completion) {
        IMAPResponse.tagged(tag: tag, status: completion.status, code: completion.code, text: completion.text)
            .write(into: &out)
    }

    // MARK: Input

    /// Handles every complete frame in `pending`; false once the session must end.
    func processInput() async throws -> Bool {
        while true {
            if replicationTag != nil, !(await continueReplicationCommand()) { return true }
            let frameEvents = decoder.decode(&pending)
            if frameEvents.isEmpty { return true }
            for (index, event) in frameEvents.enumerated() {
                switch try await handle(event) {
                case .continue:
                    continue
                case .stop:
                    return false
                case .discardRest(let through):
                    // STARTTLS / COMPRESS: anything the client sent after the command, before
                    // the new layer, is plaintext injection; it is dropped, never executed.
                    inputFilter.dropThrough(through)
                    let dropped = pending.readableBytes + (frameEvents.count - index - 1)
                    if dropped > 0 {
                        logger.notice("dropped input sent before the layer change", metadata: ["bytes": "\(dropped)"])
                    }
                    pending.clear()
                    decoder = IMAPFrameDecoder(limits: configuration.frameLimits)
                    return true
                }
            }
        }
    }

    enum FrameOutcome {
        case `continue`, stop
        /// A layer change: drop the rest of the input up to this byte count.
        case discardRest(through: Int)
    }

    func handle(_ event: IMAPFrameDecoder.Event) async throws -> FrameOutcome {
        switch event {
        case .continuationRequested:
            IMAPResponse.continuation("go ahead").write(into: &out)
            try await flush()
            return .continue
        case .lineTooLong(let tag):
            session.badCommandReceived()
            reply(tag, .bad("Command line too long (limit \(configuration.frameLimits.maxLineLength) bytes)"))
            return session.tooManyErrors ? bye("Too many errors") : .continue
        case .literalTooLarge(let tag, let size, let mustClose):
            session.badCommandReceived()
            if mustClose {
                untagged(status: .bye, text: "Literal of \(size) bytes exceeds the limit; closing")
                return .stop
            }
            reply(tag, .no("Literal too large (limit \(configuration.frameLimits.maxLiteralSize) bytes)", .tooBig))
            return .continue
        case .commandTooLarge:
            untagged(status: .bye, text: "Command too large; closing")
            return .stop
        case .command(let frame):
            return try await handleFrame(frame)
        case .replicationCommand(let tag):
            return startReplicationCommand(tag)
        default:
            return try await handleAppendEvent(event)
        }
    }

    func reply(_ tag: String?, _ completion: Completion) {
        if let tag {
            tagged(tag, completion)
        } else {
            untagged(status: completion.status, code: completion.code, text: completion.text)
        }
    }

    func bye(_ text: String) -> FrameOutcome {
        untagged(status: .bye, text: text)
        return .stop
    }

    func handleFrame(_ frame: ByteBuffer) async throws -> FrameOutcome {
        if let exchange = authExchange {
            authExchange = nil
            let completion = await continueAuthentication(exchange, response: frame)
            if let completion {
                tagged(exchange.tag, completion)
                if session.tooManyFailedLogins { return bye("Too many failed logins") }
            }
            return .continue
        }
        if let tag = idleTag {
            idleTag = nil
            let text = String(decoding: frame.readableBytesView, as: UTF8.self)
            if text.uppercased() == "DONE" {
                tagged(tag, .ok("IDLE terminated"))
            } else {
                tagged(tag, .bad("Expected DONE to end IDLE"))
            }
            return .continue
        }
        let command: TaggedCommand
        do {
            command = try IMAPCommandParser.parse(frame)
        } catch {
            session.badCommandReceived()
            reply(IMAPCommandParser.tag(of: frame), .bad(error.text))
            return session.tooManyErrors ? bye("Too many errors") : .continue
        }
        if session.commandCount >= configuration.maxCommandsPerSession {
            return bye("Command limit for this session reached")
        }
        switch session.commandReceived(command.command) {
        case .refuse(let status, let code, let text):
            tagged(command.tag, Completion(status: status, code: code, text: text))
            return session.tooManyErrors ? bye("Too many errors") : .continue
        case .run:
            break
        }
        return try await execute(command)
    }

    /// Runs an admitted command and answers it.
    func execute(_ command: TaggedCommand) async throws -> FrameOutcome {
        let tag = command.tag
        // A fenced replica (corvid failover) takes no client writes.
        var admitted = false
        if IMAPCommandTable.entry(for: command.command).writes, let gate = configuration.writeGate {
            guard gate.enter() else {
                session.commandCompleted()
                tagged(tag, .no("This server is a replica now and takes no changes; use the master", .unavailable))
                return .continue
            }
            admitted = true
        }
        defer { if admitted { configuration.writeGate?.leave() } }
        let completion: Completion
        switch command.command {
        case .capability:
            untagged("CAPABILITY " + session.capabilities.joined(separator: " "))
            completion = .ok("CAPABILITY completed")
        case .noop, .check:
            await refresh(allowExpunge: true, force: true)
            completion = .ok("\(command.command.name) completed")
        case .logout:
            untagged(status: .bye, text: "Corvid IMAP server logging out")
            tagged(tag, .ok("LOGOUT completed"))
            session.logout()
            return .stop
        case .id:
            untagged("ID (\"name\" \"Corvid\" \"vendor\" \"Corvid\" \"support-url\" \"https://corvid.invalid\")")
            completion = .ok("ID completed")
        case .startTLS:
            return try await startTLS(tag)
        case .compress(let mechanism):
            return try await startCompression(tag, mechanism)
        case .login(let user, let password):
            completion = await login(user: user, password: password)
        case .authenticate(let mechanism, let initial):
            guard let done = await authenticate(tag: tag, mechanism: mechanism, initialResponse: initial) else {
                return .continue
            }
            completion = done
        case .enable(let capabilities):
            let newly = session.enable(capabilities)
            untagged("ENABLED" + newly.map { " " + $0 }.joined())
            completion = .ok("ENABLE completed")
        case .namespace:
            completion = namespace()
        case .select(let mailbox, let parameters):
            completion = await select(mailbox, parameters, readOnly: false)
        case .examine(let mailbox, let parameters):
            completion = await select(mailbox, parameters, readOnly: true)
        case .create(let mailbox, let specialUse):
            completion = await create(mailbox, specialUse: specialUse)
        case .delete(let mailbox):
            completion = await delete(mailbox)
        case .rename(let from, let to):
            completion = await rename(from, to)
        case .subscribe(let mailbox):
            completion = await subscribe(mailbox, true)
        case .unsubscribe(let mailbox):
            completion = await subscribe(mailbox, false)
        case .status(let mailbox, let items):
            completion = await status(mailbox, items: items)
        case .list(let list):
            completion = await self.list(list)
        case .lsub(let reference, let pattern):
            completion = await lsub(reference: reference, pattern: pattern)
        case .append(let mailbox, let messages):
            completion = await appendBuffered(mailbox, messages)
        case .idle:
            await refresh(allowExpunge: true, force: true)
            idleTag = tag
            IMAPResponse.continuation("idling").write(into: &out)
            return .continue
        case .close:
            completion = await close(expunge: true)
        case .unselect:
            completion = await close(expunge: false)
        case .expunge:
            completion = await expunge(uids: nil)
        case .uidExpunge(let set):
            completion = await expunge(uids: set)
        case .fetch(let set, let attributes, let modifiers, let uid):
            completion = try await fetch(set, attributes, modifiers, uid: uid)
        case .store(let set, let unchangedSince, let action, let uid):
            completion = await storeFlags(set, unchangedSince: unchangedSince, action, uid: uid)
        case .search(let search, let uid):
            completion = await self.search(search, uid: uid, tag: tag)
        case .copy(let set, let mailbox, let uid):
            completion = await copy(set, to: mailbox, uid: uid, move: false)
        case .move(let set, let mailbox, let uid):
            completion = await copy(set, to: mailbox, uid: uid, move: true)
        case .getACL(let mailbox):
            completion = await getACL(mailbox)
        case .setACL(let mailbox, let identifier, let rights):
            completion = await setACL(mailbox, identifier: identifier, rights: rights)
        case .deleteACL(let mailbox, let identifier):
            completion = await setACL(mailbox, identifier: identifier, rights: nil)
        case .listRights(let mailbox, let identifier):
            completion = await listRights(mailbox, identifier: identifier)
        case .myRights(let mailbox):
            completion = await myRights(mailbox)
        case .getQuota(let root):
            completion = await getQuota(root: root)
        case .getQuotaRoot(let mailbox):
            completion = await getQuotaRoot(mailbox)
        case .setQuota(let root, let limits):
            completion = await setQuota(root: root, limits: limits)
        case .getMetadata(let mailbox, let options, let entries):
            completion = await getMetadata(mailbox, options: options, entries: entries)
        case .setMetadata(let mailbox, let entries):
            completion = await setMetadata(mailbox, entries: entries)
        }
        if completion.status != .bad { session.commandCompleted() } else { session.badCommandReceived() }
        switch command.command {
        case .append, .copy, .move:
            // The session's own write may land in its selected mailbox: announce it in this
            // response rather than when the store's notification arrives.
            dirty = true
        default:
            break
        }
        await refresh(allowExpunge: IMAPCommandTable.entry(for: command.command).mayAnnounceExpunge)
        if mustClose {
            tagged(tag, completion)
            return .stop
        }
        tagged(tag, completion)
        return session.tooManyErrors ? bye("Too many errors") : .continue
    }

    // MARK: Replication (IMAP flavour, sync-protocol §1.10)

    /// A `tag SYNC…` command starts in `pending`: without a replication service, or before
    /// login, it is an ordinary command (and fails as one); otherwise its bytes go to the
    /// replica engine from `GET`/`APPLY`/`RESTART`/`RESTORE` on.
    func startReplicationCommand(_ tag: String) -> FrameOutcome {
        guard let service = connection.replication, let user = session.user else {
            // Not a replica, or not logged in: the line is read as IMAP (and refused as such).
            decoder.resumeAfterReplicationCommand()
            return .continue
        }
        if replicationSession == nil { replicationSession = service.makeSession(user: user.name) }
        pending.moveReaderIndex(forwardBy: tag.utf8.count + " SYNC".utf8.count)
        replicationTag = tag
        return .continue
    }

    /// Feeds the SYNC command's bytes to the engine; true once it is answered.
    func continueReplicationCommand() async -> Bool {
        guard let tag = replicationTag, let replication = replicationSession else { return true }
        guard var response = await replication.feed(&pending, tag: tag) else { return false }
        out.writeBuffer(&response)
        replicationTag = nil
        decoder.resumeAfterReplicationCommand()
        session.commandCompleted()
        return true
    }

    // MARK: Layer changes

    func startTLS(_ tag: String) async throws -> FrameOutcome {
        guard configuration.startTLSAvailable, !session.tlsActive else {
            tagged(tag, .bad(session.tlsActive ? "TLS is already active" : "STARTTLS is not available"))
            return .continue
        }
        try await flush()
        var reply = ByteBuffer()
        IMAPResponse.tagged(tag: tag, status: .ok, code: nil, text: "Begin TLS negotiation now").write(into: &reply)
        let through = try await transport.startTLS(after: reply)
        session.tlsActive = true
        return .discardRest(through: through)
    }

    func startCompression(_ tag: String, _ mechanism: String) async throws -> FrameOutcome {
        guard configuration.compressionAvailable, mechanism.uppercased() == "DEFLATE" else {
            tagged(tag, .no("Unknown compression mechanism \(mechanism)", .cannot))
            return .continue
        }
        guard !session.compressionActive else {
            tagged(tag, .no("DEFLATE active via COMPRESS", .other("COMPRESSIONACTIVE")))
            return .continue
        }
        try await flush()
        var reply = ByteBuffer()
        IMAPResponse.tagged(tag: tag, status: .ok, code: nil, text: "DEFLATE active").write(into: &reply)
        let through = try await transport.startCompression(after: reply)
        session.compressionActive = true
        return .discardRest(through: through)
    }

    // MARK: Watching the selected mailbox

    func startWatching(_ name: MailboxName) {
        stopWatching()
        let signal = self.signal
        watchToken = connection.hub.watch(mailbox: name.internalName) { signal.mailboxChanged() }
        dirty = false
    }

    func stopWatching() {
        if let token = watchToken { connection.hub.unwatch(token) }
        watchToken = nil
    }

    /// Brings the selected view up to date and writes the untagged responses for what changed.
    func refresh(allowExpunge: Bool, force: Bool = false) async {
        guard var selected = session.selected else { return }
        if signal.takeChanged() { dirty = true }
        guard dirty || force || !selected.pendingExpunges.isEmpty && allowExpunge else { return }
        dirty = false
        let snapshot: (Mailbox, [MessageRecord])?
        do {
            snapshot = try await store.mailboxChanges(selected.name, since: selected.knownModSeq)
        } catch {
            logger.error("cannot refresh selected mailbox", metadata: ["error": "\(error)"])
            return
        }
        guard let (mailbox, changes) = snapshot, mailbox.uniqueID == selected.uniqueID else {
            // Deleted or replaced under us: RFC 9051 allows closing the session; Cyrus says BYE.
            untagged(status: .bye, text: "Selected mailbox was deleted or renamed")
            session.deselect()
            stopWatching()
            mustClose = true
            return
        }
        let update = selected.apply(changes, mailbox: mailbox, allowExpunge: allowExpunge)
        session.selected = selected
        writeUpdate(update, selected)
    }

    func writeUpdate(_ update: SelectedMailbox.Update, _ selected: SelectedMailbox) {
        if !update.expunged.isEmpty {
            if session.qresyncEnabled {
                untagged("VANISHED " + UIDSet(update.expungedUIDs).description)
            } else {
                for seq in update.expunged { untagged("\(seq) EXPUNGE") }
            }
        }
        if let exists = update.exists { untagged("\(exists) EXISTS") }
        for seq in update.flagChanges {
            let entry = selected.entry(at: seq)
            var items = ["FLAGS (\(flagList(entry.flags)))"]
            if session.qresyncEnabled || session.condStoreActive {
                items.insert("UID \(entry.uid.rawValue)", at: 0)
                items.append("MODSEQ (\(entry.modSeq.rawValue))")
            }
            untagged("\(seq) FETCH (\(items.joined(separator: " ")))")
        }
    }

    func flagList(_ flags: FlagSet) -> String { flags.all.map(\.name).joined(separator: " ") }

    // MARK: Names and rights

    var namespaceMap: MailboxNamespace {
        MailboxNamespace(
            user: session.user!,
            isAdmin: session.isAdmin,
            altNamespace: configuration.altNamespace,
            unixHierarchySep: configuration.unixHierarchySep
        )
    }

    var access: AccessRights { AccessRights(user: session.user!, isAdmin: session.isAdmin) }

    /// The internal name for a client's mailbox argument (modified UTF-7 kept as is; 8-bit
    /// names are encoded to modified UTF-7, as Cyrus stores them).
    func internalName(_ argument: MailboxArgument) -> MailboxName? {
        namespaceMap.internalName(for: inputName(argument.bytes))
    }

    /// A name or pattern as the client sent it, in the modified UTF-7 form names are kept in:
    /// IMAP4rev2 clients send UTF-8 (where `&` is just `&`), IMAP4rev1 clients modified UTF-7.
    func inputName(_ bytes: [UInt8]) -> String {
        if session.utf8Names {
            let text = String(decoding: bytes, as: UTF8.self)
            return text.uppercased() == "INBOX" ? "INBOX" : ModifiedUTF7.encode(text)
        }
        return ModifiedUTF7.encodeIfNeeded(bytes)
    }

    /// A mailbox the user may see (`l` or `r`); nil (with the NONEXISTENT reply) otherwise, so
    /// that names the user cannot see do not leak.
    func visibleMailbox(_ argument: MailboxArgument) async -> Result<Mailbox, Completion> {
        guard let name = internalName(argument) else { return .failure(.no("Invalid mailbox name", .cannot)) }
        do {
            guard let mailbox = try await store.mailbox(name) else {
                return .failure(.no("Mailbox does not exist", .nonexistent))
            }
            let rights = access.rights(on: mailbox)
            guard rights.contains("l") || rights.contains("r") else {
                return .failure(.no("Mailbox does not exist", .nonexistent))
            }
            return .success(mailbox)
        } catch {
            return .failure(Completion(error))
        }
    }

    /// Checks a right on a visible mailbox.
    func require(_ right: Character, on mailbox: Mailbox) -> Completion? {
        access.has(right, on: mailbox) ? nil : .no("Permission denied", .noPerm)
    }
}
