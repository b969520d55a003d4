import MailCore
import MailStore
import MailStoreSQLite
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A real SQLite store in a fresh temporary directory, removed when the value goes away.
public final class TemporaryMailStore: Sendable {
    public let directory: String
    public let store: SQLiteMailStore

    /// `prefix` names the directory under /tmp (e.g. `corvid-imap`).
    public init(prefix: String, changeRetention: Int = 1_000_000) throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        store = try SQLiteMailStore(configuration: Self.configuration(directory, changeRetention: changeRetention))
    }

    /// The same store opened again, as a restarted process would.
    public func reopened(changeRetention: Int = 1_000_000) throws -> SQLiteMailStore {
        try SQLiteMailStore(configuration: Self.configuration(directory, changeRetention: changeRetention))
    }

    private static func configuration(_ directory: String, changeRetention: Int) -> SQLiteMailStore.Configuration {
        .init(
            configDirectory: directory + "/conf",
            partitions: ["default": directory + "/spool"],
            changeRetention: changeRetention
        )
    }

    deinit { _ = system("rm -rf '\(directory)'") }

    /// Creates users with their INBOXes (password verifier unused by the tests' authenticators).
    public func addUsers(_ names: [String]) async throws {
        for name in names {
            _ = try await store.createUser(try UserName(name), passwordVerifier: "x", quota: QuotaLimits())
        }
    }

    /// Delivers a message to a user's INBOX as LMTP would; returns its UID.
    @discardableResult
    public func deliver(_ text: String, to user: String, flags: FlagSet = FlagSet()) async throws -> UID {
        let writer = try await store.beginMessage()
        try await writer.write(ByteBuffer(string: text))
        let staged = try await writer.finish()
        let result = await store.deliver(
            staged,
            to: [DeliveryTarget(mailbox: .inbox(of: try UserName(user)), flags: flags, internalDate: 1_700_000_000)]
        )
        return try result[0].get().uid
    }

    /// An out-of-order replica apply: `uid` expunged under MODSEQ 1, below the mailbox's
    /// HIGHESTMODSEQ (which moves on by one), as no local write ever does. Readers that
    /// follow changes by modseq alone miss it.
    public func expungeBehindModSeq(_ uid: UID, in mailbox: MailboxName) async throws {
        guard var state = try await store.replicaState(of: mailbox, records: true),
            var record = state.records.first(where: { $0.uid == uid })
        else { throw MailStoreError(.nonexistent, "no UID \(uid) in \(mailbox)") }
        record.isExpunged = true
        record.modSeq = ModSeq(1)
        state.mailbox.highestModSeq = state.mailbox.highestModSeq.next
        _ = try await store.applyReplicaMailbox(
            ReplicaMailboxUpdate(
                mailbox: state.mailbox,
                annotations: state.annotations,
                records: [record],
                expectedHighestModSeq: nil,
                force: true
            ),
            messages: [:]
        )
    }
}
