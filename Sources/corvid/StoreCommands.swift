import ArgumentParser
import CorvidRuntime
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

struct MailboxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailbox",
        abstract: "Inspect mailboxes.",
        subcommands: [List.self, Dump.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List mailboxes (internal names) with counts.")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Only this mailbox and those below it") var root: String?

        func run() async throws {
            let (_, store) = try options.openStore()
            let rootName = try root.map { try MailboxName(internal: $0) }
            for box in try await store.mailboxes(under: rootName) {
                print(
                    "\(box.name)\tuidvalidity=\(box.uidValidity)\tmessages=\(box.messageCount)\tbytes=\(box.totalSize)\tlast_uid=\(box.lastUID)\thighestmodseq=\(box.highestModSeq)"
                )
            }
        }
    }

    struct Dump: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every message of a mailbox as JSON lines, with its exact stored bytes in base64."
        )
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Internal mailbox name, e.g. user.alice") var mailbox: String

        func run() async throws {
            let (_, store) = try options.openStore()
            let name = try MailboxName(internal: mailbox)
            for record in try await store.records(in: name, includeExpunged: false) {
                let bytes = try await store.messageBytes(record.guid)
                let flags = record.flags.all.map { "\"\(jsonEscape($0.name))\"" }.joined(separator: ",")
                print(
                    "{\"uid\":\(record.uid),\"guid\":\"\(record.guid)\",\"size\":\(record.size),\"internaldate\":\(Int64(record.internalDate)),\"modseq\":\(record.modSeq),\"flags\":[\(flags)],\"data\":\"\(Base64.encode(Array(bytes.readableBytesView)))\"}"
                )
            }
        }
    }
}

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Verify the store: message files hash to their GUIDs, reference counts, quota usage, UID and modseq invariants, cached headers.",
        discussion: """
            Exit status 0 when healthy; otherwise one line per problem and exit status 1. \
            With --replica [CHANNEL]: compare every user's mailboxes and every shared mailbox \
            with the channel's replica instead (SYNC_CRC, then records and GUIDs where they \
            differ), one line per difference; --repair then syncs what differs (leaving what \
            agrees untouched, copying back what only the replica has) and compares again.
            """
    )
    @OptionGroup var options: ConfigOptions
    @ArgumentParser.Flag(help: "Skip reading messages: no hashing, no comparing cached headers (structure only)")
    var fast = false
    @ArgumentParser.Flag(help: "Compare with a replica (the channel's sync_host) instead of checking the store")
    var replica = false
    @Argument(help: "With --replica: the channel (default: the one sync_host configures)") var channel: String?
    @ArgumentParser.Flag(help: "With --replica: make the replica equal where it differs") var repair = false
    @Option(name: .customLong("user"), parsing: .upToNextOption, help: "With --replica: only these users")
    var users: [String] = []

    func validate() throws {
        if !replica && (channel != nil || repair || !users.isEmpty) {
            throw ValidationError("a channel, --repair and --user go with --replica")
        }
    }

    func run() async throws {
        if replica { return try await checkReplica() }
        let (_, store) = try options.openStore()
        let report = await store.check(verifyContent: !fast)
        for problem in report.problems { print("problem: \(problem)") }
        for note in report.notes { print("note: \(note)") }
        print(
            "checked \(report.mailboxesChecked) mailboxes, \(report.recordsChecked) records, \(report.blobsChecked) message files, \(report.headersChecked) cached headers: "
                + (report.isHealthy ? "healthy" : "\(report.problems.count) problem(s)")
        )
        if !report.isHealthy { throw ExitCode(1) }
    }
}

struct Reconstruct: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Rebuild counters, reference counts, quota usage and cached headers from what is on disk. The server must be stopped."
    )
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let (config, store) = try options.openStore()
        let lock: ServeLock
        do {
            lock = try ServeLock(configDirectory: config.configDirectory)
        } catch {
            throw CLIError("\(error); stop the server before reconstructing")
        }
        let actions = try await store.reconstruct()
        for action in actions { print(action) }
        print(actions.isEmpty ? "nothing to repair" : "\(actions.count) repair(s) made")
        withExtendedLifetime(lock) {}
    }
}

func jsonEscape(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out
}
