import ArgumentParser
import MailCore
import MailStore
import ServerSupport

#if canImport(Glibc)
import Glibc
#endif

struct User: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage users. Changes are seen by a running server at once.",
        subcommands: [Add.self, List.self, Delete.self, Passwd.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user and create its INBOX (user.NAME).")
        @OptionGroup var options: ConfigOptions
        @Argument(help: "Login name") var name: String
        @Option(help: "Password (read from standard input when omitted)") var password: String?
        @ArgumentParser.Flag(
            name: .customLong("no-inbox"),
            help: "Create the account only; on a replica the user's mailboxes arrive by replication"
        )
        var noInbox = false

        func run() async throws {
            let user = try parseUser(name)
            let (config, store) = try options.openStore()
            let secret = try password ?? readPassword()
            let verifier = try PasswordHasher().makeVerifier(password: secret)
            let quota = QuotaLimits(storageKiB: config.autocreateQuotaKiB, messages: config.autocreateQuotaMessages)
            _ = try await store.createUser(user, passwordVerifier: verifier, quota: quota, createInbox: !noInbox)
            print(
                noInbox
                    ? "added user \(user) (no INBOX created)"
                    : "added user \(user) with INBOX \(MailboxName.inbox(of: user))"
            )
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users with their mail usage.")
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let (_, store) = try options.openStore()
            for account in try await store.users() {
                let inbox = MailboxName.inbox(of: account.name)
                let quota = try await store.quotaRoot(inbox.internalName)
                let used = quota.map { "\($0.messagesUsed) messages, \($0.storageUsedBytes) bytes" } ?? "no quota root"
                let limit =
                    quota.map { q in
                        "limit " + (q.storageLimitKiB.map { "\($0) KiB" } ?? "unlimited") + " / "
                            + (q.messageLimit.map { "\($0) messages" } ?? "unlimited")
                    } ?? ""
                print("\(account.name)\t\(used)\t\(limit)")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user with all its mailboxes and messages.")
        @OptionGroup var options: ConfigOptions
        @Argument var name: String

        func run() async throws {
            let user = try parseUser(name)
            let (_, store) = try options.openStore()
            try await store.deleteUser(user)
            print("deleted user \(user) and its mailboxes")
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password.")
        @OptionGroup var options: ConfigOptions
        @Argument var name: String
        @Option(help: "New password (read from standard input when omitted)") var password: String?

        func run() async throws {
            let user = try parseUser(name)
            let (_, store) = try options.openStore()
            let secret = try password ?? readPassword()
            try await store.setPasswordVerifier(try PasswordHasher().makeVerifier(password: secret), for: user)
            print("password of \(user) changed")
        }
    }
}

func parseUser(_ text: String) throws -> UserName {
    do {
        return try UserName(text)
    } catch {
        throw CLIError("invalid user name '\(text)': \(error)")
    }
}

/// Reads one line from standard input (prompting on a terminal, without echo).
func readPassword() throws -> String {
    let interactive = isatty(0) != 0
    var saved = termios()
    if interactive {
        writeStderr("Password: ")
        tcgetattr(0, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(0, TCSANOW, &silent)
    }
    defer {
        if interactive {
            tcsetattr(0, TCSANOW, &saved)
            writeStderr("\n")
        }
    }
    guard let line = readLine(strippingNewline: true), !line.isEmpty else { throw CLIError("no password given") }
    return line
}

func writeStderr(_ text: String) {
    _ = text.withCString { write(2, $0, strlen($0)) }
}
