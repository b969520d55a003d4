import Logging
import MailCore
import MailStore
import NIOCore
import SyncCodec

/// Settings of a one-shot csync master run (`corvid sync`).
public struct SyncClientConfiguration: Sendable {
    /// `sync_authname`: the replica's admin user; nil skips AUTHENTICATE (a replica that
    /// starts sessions authenticated, e.g. on a UNIX socket).
    public var authName: String?
    /// `sync_password`. Never logged.
    public var password: String
    /// `-z`: fail unless COMPRESS DEFLATE is used. Without it, COMPRESS is used whenever the
    /// banner offers it and the transport can (sync-protocol §1.8).
    public var requireCompression: Bool

    public init(authName: String?, password: String, requireCompression: Bool = false) {
        self.authName = authName
        self.password = password
        self.requireCompression = requireCompression
    }
}

/// What to replicate.
public enum SyncClientWork: Sendable {
    /// `-u USER…` / `-A`: each user's mailboxes, quota, subscriptions and seen state (§5.1).
    case users([UserName])
    /// `-m MAILBOX…`: these mailboxes' contents only (no renames, deletes or per-user state).
    case mailboxes([MailboxName])
    /// `-A`: every user as ``users(_:)``, then the mailboxes outside any user (shared
    /// folders) as ``mailboxes(_:)``, then the server-level annotations.
    case all(users: [UserName], sharedMailboxes: [MailboxName])
    /// `corvid check --replica`: compare these users' and mailboxes' state with the replica's
    /// and report each difference; with `repair`, sync what differs and compare again.
    case check(users: [UserName], sharedMailboxes: [MailboxName], repair: Bool)
    /// `corvid failover`: hand the master role to the replica (`APPLY X-CORVID-PROMOTE`, a
    /// Corvid extension its banner must offer). `from` names this master in its log.
    case promote(epoch: Int64, from: String)
}

/// Progress of a run, for a terminal.
public enum SyncClientProgress: Sendable {
    case userStarted(UserName)
    /// A mailbox was brought up to date: records sent in its APPLY MAILBOX.
    case mailboxUpdated(MailboxName, records: Int)
    /// Message files uploaded (a batch): count and bytes.
    case messagesUploaded(count: Int, bytes: Int)
    case userFinished(UserName, failure: String?)
}

/// The outcome of a run.
public struct SyncClientReport: Sendable {
    /// Users (or, for `-m`, mailbox names) that failed, with why.
    public var failures: [(name: String, reason: String)] = []
    /// Users completed without error.
    public var succeeded: [String] = []
    /// Mailboxes examined, and those that needed an APPLY MAILBOX.
    public var mailboxesExamined = 0
    public var mailboxesUpdated = 0
    /// Records sent in APPLY MAILBOX commands.
    public var recordsSent = 0
    public var messagesUploaded = 0
    public var bytesUploaded = 0
    /// Commands sent, by `VERB KEY`.
    public var commandCounts: [String: Int] = [:]
    /// Decisions the master took and logged (copy-back, renumbering, GUID conflicts…), and
    /// replica mailboxes it left alone.
    public var notes: [String] = []
    /// Replica messages copied to the master in full updates.
    public var messagesCopiedBack = 0
    /// `check`: the differences found, and those still there after the repair (all of them
    /// without `repair`).
    public var differences: [ReplicaDifference] = []
    public var remainingDifferences: [ReplicaDifference] = []

    public init() {}

    /// APPLY commands sent, all kinds together.
    public var applyCount: Int { commandCounts.filter { $0.key.hasPrefix("APPLY ") }.values.reduce(0, +) }
}

/// The csync master (Cyrus's `sync_client` in one-shot mode, sync-protocol §5): compares the
/// local store with what the replica reports and sends what differs.
///
/// I/O-free apart from the transport and the store: the same run works over TCP against Cyrus
/// and in memory against a ``SyncServerConnection`` in the tests.
///
/// ```
/// C: AUTHENTICATE PLAIN …  / COMPRESS DEFLATE
/// C: GET USER alice                         ← replica mailboxes, quota, seen, LSUB
/// C: APPLY UNMAILBOX / APPLY RENAME …       ← mailboxes deleted here, renamed ones
/// C: APPLY RESERVE %(PARTITION … GUID (…))  ← which bodies the replica already has
/// C: APPLY MESSAGE (%{…} …)                 ← only the MISSING ones
/// C: APPLY MAILBOX %(… SINCE_MODSEQ … RECORD (…))
/// C: APPLY QUOTA / SUB / UNSUB / SEEN …
/// C: RESTART … EXIT
/// ```
///
/// A replica mailbox is deleted (APPLY UNMAILBOX) only when its uniqueid has a tombstone here,
/// as in Cyrus; one the master never knew is kept and noted. When a mailbox has diverged (a
/// full update), the master copies back what only the replica has, renumbers conflicting UIDs
/// and takes newer replica flags (``FullMailboxMerge``), logging each decision.
public struct SyncClient: Sendable {
    let store: any MailStore
    let configuration: SyncClientConfiguration
    let logger: Logger
    /// The time rewritten records get as LAST_UPDATED in a full update.
    let clock: @Sendable () -> UnixTime
    /// The store's mailbox checksums, kept across sessions (and shared by channels).
    let checksums: SyncChecksumCache

    public init(
        store: any MailStore,
        configuration: SyncClientConfiguration,
        logger: Logger,
        clock: @escaping @Sendable () -> UnixTime = SyncClient.systemTime,
        checksums: SyncChecksumCache = SyncChecksumCache()
    ) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        self.checksums = checksums
    }

    /// Wall-clock seconds since the epoch.
    @Sendable public static func systemTime() -> UnixTime { systemUnixTime() }

    /// Runs one session: banner, AUTHENTICATE, COMPRESS, the work (RESTART between users),
    /// EXIT. A failing user is reported and the next one tried, unless the connection is lost;
    /// if the session cannot start (login refused, `-z` without COMPRESS), every user is
    /// reported failed. Only a failing transport throws.
    public func run<Input: AsyncSequence>(
        input: Input,
        transport: some SyncClientTransport,
        work: SyncClientWork,
        progress: @escaping @Sendable (SyncClientProgress) -> Void = { _ in }
    ) async throws -> SyncClientReport where Input.Element == ByteBuffer {
        let connection = SyncClientConnection(input: input, transport: transport)
        let runner = SyncClientRunner(client: self, connection: connection, progress: progress)
        do {
            try await runner.start()
        } catch {
            // No user can be synced: each is reported failed, by name.
            let names: [String]
            switch work {
            case .users(let users): names = users.map(\.name)
            case .mailboxes(let mailboxes): names = mailboxes.map(\.internalName)
            case .all(let users, let shared): names = users.map(\.name) + shared.map(\.internalName) + ["server"]
            case .check(let users, let shared, _): names = users.map(\.name) + shared.map(\.internalName)
            case .promote: names = ["promotion"]
            }
            runner.report.failures = names.map { ($0, "not attempted: \(error)") }
            runner.report.commandCounts = connection.commandCounts
            return runner.report
        }
        switch work {
        case .users(let users):
            guard try await runUsers(users, runner: runner, progress: progress) else { return runner.report }
        case .mailboxes(let names):
            await runMailboxes(names, runner: runner)
        case .all(let users, let shared):
            guard try await runUsers(users, runner: runner, progress: progress) else { return runner.report }
            if !shared.isEmpty {
                if !users.isEmpty { try await runner.restart() }
                await runMailboxes(shared, runner: runner)
            }
            do {
                try await runner.syncServerAnnotations()
                runner.report.succeeded.append("server")
            } catch {
                runner.report.failures.append(("server", "\(error)"))
                logger.error("csync: server annotations failed", metadata: ["error": "\(error)"])
            }
        case .check(let users, let shared, let repair):
            try await runner.check(users: users, sharedMailboxes: shared, repair: repair)
        case .promote(let epoch, let from):
            if runner.replicaCapabilities["X-CORVID-PROMOTE"] == nil {
                runner.report.failures.append(
                    ("promotion", "the replica does not offer X-CORVID-PROMOTE (not Corvid, or too old)")
                )
            } else {
                do {
                    try await runner.expectOK(
                        .apply(
                            .init(
                                "X-CORVID-PROMOTE",
                                .kvlist([.init("EPOCH", .number(UInt64(max(epoch, 0)))), .init("FROM", .string(from))])
                            )
                        )
                    )
                    runner.report.succeeded.append("promotion")
                } catch {
                    runner.report.failures.append(("promotion", "\(error)"))
                }
            }
        }
        _ = try? await connection.send(.exit)
        runner.report.commandCounts = connection.commandCounts
        return runner.report
    }
}

extension SyncClient {
    /// Each user in turn, `RESTART` between them. False when the connection was lost: every
    /// remaining user is then reported failed and the report is final.
    private func runUsers<Input, Transport>(
        _ users: [UserName],
        runner: SyncClientRunner<Input, Transport>,
        progress: @escaping @Sendable (SyncClientProgress) -> Void
    ) async throws -> Bool {
        for (index, user) in users.enumerated() {
            if index > 0 { try await runner.restart() }
            do {
                progress(.userStarted(user))
                try await runner.syncUser(user)
                runner.report.succeeded.append(user.name)
                progress(.userFinished(user, failure: nil))
            } catch {
                runner.report.failures.append((user.name, "\(error)"))
                progress(.userFinished(user, failure: "\(error)"))
                logger.error("csync: user failed", metadata: ["user": "\(user.name)", "error": "\(error)"])
                if let error = error as? SyncClientError, error.isSessionFatal {
                    for rest in users[(index + 1)...] {
                        runner.report.failures.append((rest.name, "not attempted: \(error)"))
                    }
                    runner.report.commandCounts = runner.connection.commandCounts
                    return false
                }
            }
        }
        return true
    }

    private func runMailboxes<Input, Transport>(
        _ names: [MailboxName],
        runner: SyncClientRunner<Input, Transport>
    ) async {
        do {
            try await runner.syncMailboxes(names)
            runner.report.succeeded.append(contentsOf: names.map(\.internalName))
        } catch {
            runner.report.failures.append((names.map(\.internalName).joined(separator: " "), "\(error)"))
        }
    }
}

/// One session's state; confined to the task running ``SyncClient/run(input:transport:work:progress:)``.
final class SyncClientRunner<Input: AsyncSequence, Transport: SyncClientTransport>
where Input.Element == ByteBuffer {
    let client: SyncClient
    let connection: SyncClientConnection<Input, Transport>
    let progress: @Sendable (SyncClientProgress) -> Void
    var report = SyncClientReport()
    /// GUIDs uploaded (or reserved) in this session, until RESTART (§3.6 step 3).
    var staged: Set<MessageGUID> = []
    /// GUIDs the replica reported MISSING and that still have to be uploaded.
    var missing: Set<MessageGUID> = []
    /// Conflicts settled by keeping both sides, for the administrator (GUID conflicts,
    /// same-named mailboxes); rolling replication records and clears them after each batch.
    var conflicts: [String] = []
    /// The banner's capabilities (§1.3), by name.
    var replicaCapabilities: [String: [String]] = [:]

    var store: any MailStore { client.store }
    var logger: Logger { client.logger }

    /// Named limits (Cyrus's): GUIDs per APPLY RESERVE, files per APPLY MESSAGE (§3.6).
    static var reserveBatch: Int { 8192 }
    static var uploadBatch: Int { 1024 }
    /// Named limit: bytes of files per APPLY MESSAGE, so one command does not grow unbounded.
    static var uploadBatchBytes: Int64 { 64 * 1024 * 1024 }

    init(
        client: SyncClient,
        connection: SyncClientConnection<Input, Transport>,
        progress: @escaping @Sendable (SyncClientProgress) -> Void
    ) {
        self.client = client
        self.connection = connection
        self.progress = progress
    }

    /// Banner, AUTHENTICATE PLAIN (if the banner offers SASL), COMPRESS (if offered) (§1.9).
    func start() async throws {
        let capabilities = try await connection.readBanner()
        replicaCapabilities = capabilities
        if let mechanisms = capabilities["SASL"], let user = client.configuration.authName {
            guard mechanisms.contains(where: { $0.uppercased() == "PLAIN" }) else {
                throw SyncClientError(
                    .authenticationFailed,
                    "the replica offers no PLAIN (SASL \(mechanisms.joined(separator: " ")))"
                )
            }
            try await connection.authenticate(user: user, password: client.configuration.password)
        }
        let offered = capabilities["COMPRESS"]?.contains { $0.uppercased() == "DEFLATE" } ?? false
        var compressed = false
        if offered && connection.transport.supportsCompression {
            compressed = try await connection.compress()
        }
        if client.configuration.requireCompression && !compressed {
            throw SyncClientError(
                .compressionUnavailable,
                offered ? "COMPRESS DEFLATE failed" : "the replica does not offer COMPRESS DEFLATE"
            )
        }
        logger.debug("csync session ready", metadata: ["compressed": "\(compressed)"])
    }

    /// `RESTART`: the replica drops its staged uploads, so ours are forgotten too.
    func restart() async throws {
        _ = try await connection.send(.restart)
        staged = []
        missing = []
    }

    /// Sends a GET or APPLY and returns its reply if `OK`; throws ``SyncClientError`` otherwise.
    @discardableResult
    func expectOK(_ command: SyncCommand) async throws -> SyncClientReply {
        let reply = try await connection.send(command)
        guard reply.status.kind == .ok else { throw refused(command, reply.status) }
        return reply
    }

    func refused(_ command: SyncCommand, _ status: SyncStatus) -> SyncClientError {
        var label = command.verb
        if case .apply(let item) = command { label += " " + item.key }
        if case .get(let item) = command { label += " " + item.key }
        var line = ByteBuffer()
        status.write(into: &line)
        let text = String(decoding: line.readableBytesView, as: UTF8.self).trimmingSuffix("\r\n")
        return SyncClientError(.commandRefused, "\(label): \(text)", status: status)
    }

    func note(_ text: String, _ metadata: Logger.Metadata = [:]) {
        report.notes.append(text)
        logger.warning("csync: \(text)", metadata: metadata)
    }

    func storeCall<T>(_ body: () async throws(MailStoreError) -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw SyncClientError(.storeFailure, "\(error)")
        }
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
