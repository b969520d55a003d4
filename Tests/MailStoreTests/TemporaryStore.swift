import MailCore
import MailStore
import MailStoreSQLite
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A store in a fresh temporary directory, removed when the test ends.
final class TemporaryStore: Sendable {
    let directory: String
    let store: SQLiteMailStore

    /// A fresh store; `mode` decides whether small messages live in rows or in files.
    init(_ mode: StorageMode = .inline) throws {
        var template = Array("/tmp/corvid-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw MailStoreError(.ioFailure, "mkdtemp failed") }
        directory = String(cString: made)
        store = try SQLiteMailStore(
            configuration: .init(
                configDirectory: directory + "/conf",
                partitions: ["default": directory + "/spool"],
                inlineLimit: mode == .inline ? SQLiteMailStore.Configuration.defaultInlineLimit : 0
            )
        )
    }

    deinit {
        _ = system("rm -rf '\(directory)'")
    }

    var spool: String { directory + "/spool" }

    /// Stages `text` and delivers it to `targets`.
    func deliver(
        _ text: String,
        to mailboxes: [MailboxName],
        date: Double = 1_700_000_000
    ) async throws
        -> [Result<AppendedMessage, MailStoreError>]
    {
        let writer = try await store.beginMessage()
        try await writer.write(ByteBuffer(string: text))
        let staged = try await writer.finish()
        return await store.deliver(staged, to: mailboxes.map { DeliveryTarget(mailbox: $0, internalDate: date) })
    }
}

/// Where message bytes go: the contract must hold for both.
enum StorageMode: CaseIterable, Sendable, CustomStringConvertible {
    case inline, files
    var description: String { self == .inline ? "inline" : "files" }
}

func user(_ name: String) -> UserName { try! UserName(name) }
