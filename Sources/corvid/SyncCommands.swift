import ArgumentParser
import CorvidRuntime
import Logging
import MailCore
import MailStore
import Replication

#if canImport(Glibc)
import Glibc
#endif

/// `corvid sync`: one-shot replication to a csync replica, as Cyrus's `sync_client -u/-m/-A`.
struct Sync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Replicate users or mailboxes to a csync replica (Cyrus sync_server or Corvid), once.",
        discussion: """
            Connects to sync_host (or -S), authenticates as sync_authname with sync_password, \
            uses COMPRESS DEFLATE when offered, and sends what differs. Exit status 1 names every \
            user that failed. `corvid sync status` and `corvid sync retry` look at the rolling \
            replication that `corvid serve` runs with sync_log.
            """,
        subcommands: [Status.self, Retry.self]
    )
    @OptionGroup var options: ConfigOptions
    @Option(name: .customShort("S"), help: "Replica host[:port] (default: sync_host, sync_port)")
    var server: String?
    @ArgumentParser.Flag(name: .customShort("v"), help: "Print every mailbox and upload")
    var verbose = false
    @ArgumentParser.Flag(name: .customShort("z"), help: "Fail unless COMPRESS DEFLATE is used")
    var requireCompression = false
    @Option(name: .customShort("u"), parsing: .upToNextOption, help: "Users to replicate")
    var users: [String] = []
    @Option(name: .customShort("m"), parsing: .upToNextOption, help: "Mailboxes (internal names) to replicate")
    var mailboxes: [String] = []
    @ArgumentParser.Flag(
        name: .customShort("A"),
        help: "Replicate every user, every mailbox outside a user, and the server annotations"
    )
    var allUsers = false

    func run() async throws {
        // Checked here, not in validate(): ArgumentParser validates a parent command before
        // running its subcommands (`corvid sync status`), which take none of these options.
        let modes = [!users.isEmpty, !mailboxes.isEmpty, allUsers].filter { $0 }.count
        guard modes == 1 else { throw ValidationError("give exactly one of -u USER…, -m MAILBOX… or -A") }
        let (config, store) = try options.openStore()
        let (host, port) = try target(config)
        let work: SyncClientWork
        if allUsers {
            let shared = try await store.mailboxes(under: nil).map(\.name).filter { $0.owner == nil }
            work = .all(users: try await store.users().map(\.name), sharedMailboxes: shared)
        } else if !users.isEmpty {
            work = .users(try users.map { try parseUser($0) })
        } else {
            work = .mailboxes(
                try mailboxes.map { text in
                    do { return try MailboxName(internal: text) } catch { throw CLIError("bad mailbox name \(text)") }
                }
            )
        }
        if config.syncAuthName == nil {
            printError("corvid sync: no sync_authname configured; not authenticating")
        }
        let client = SyncClient(
            store: store,
            configuration: SyncClientConfiguration(
                authName: config.syncAuthName,
                password: config.syncPassword ?? "",
                requireCompression: requireCompression
            ),
            logger: Logger(label: "corvid.sync")
        )
        let chatty = verbose || isatty(STDOUT_FILENO) != 0
        let verbose = self.verbose
        let report: SyncClientReport
        do {
            report = try await SyncClientChannel.run(
                host: host,
                port: port,
                client: client,
                work: work,
                replyTimeout: .seconds(Int64(config.syncTimeoutSeconds))
            ) { event in
                Self.show(event, chatty: chatty, verbose: verbose)
            }
        } catch {
            throw CLIError("sync to \(host):\(port) failed: \(error)")
        }
        print(
            "corvid sync: \(report.succeeded.count) ok, \(report.failures.count) failed; "
                + "\(report.mailboxesUpdated) of \(report.mailboxesExamined) mailboxes updated, "
                + "\(report.recordsSent) records, \(report.messagesUploaded) messages (\(report.bytesUploaded) bytes) "
                + "uploaded, \(report.messagesCopiedBack) copied back from the replica, "
                + "\(report.applyCount) APPLY commands"
        )
        for note in report.notes { print("corvid sync: note: \(note)") }
        fflush(nil)
        guard report.failures.isEmpty else {
            for failure in report.failures { printError("corvid sync: \(failure.name) failed: \(failure.reason)") }
            throw ExitCode(1)
        }
    }

    /// `-S host[:port]`, else `sync_host` and `sync_port`.
    func target(_ config: CorvidConfig) throws -> (String, Int) {
        guard let text = server ?? config.syncHost else {
            throw CLIError("no replica: give -S host[:port] or set sync_host")
        }
        guard let (host, port) = SyncChannelConfig.split(text, defaultPort: config.syncPort) else {
            throw CLIError("bad replica address \(text)")
        }
        return (host, port)
    }

    static func show(_ event: SyncClientProgress, chatty: Bool, verbose: Bool) {
        switch event {
        case .userStarted(let user):
            if chatty { print("user \(user.name) …") }
        case .mailboxUpdated(let name, let records):
            if chatty { print("  \(name): \(records) records") }
        case .messagesUploaded(let count, let bytes):
            if verbose { print("  uploaded \(count) messages, \(bytes) bytes") }
        case .userFinished(let user, let failure):
            print("user \(user.name): \(failure.map { "FAILED: \($0)" } ?? "ok")")
        }
        fflush(nil)
    }
}

/// Writes a line to standard error (descriptor 2: the C `stderr` global is not concurrency-safe).
func printError(_ text: String) {
    fflush(nil)
    let bytes = Array((text + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
