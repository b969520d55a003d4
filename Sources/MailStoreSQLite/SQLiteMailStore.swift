import GRDB
import Logging
import MailCore
import MailStore
import NIOCore
import Synchronization

import class Dispatch.DispatchQueue
import struct Foundation.Data

#if canImport(Glibc)
import Glibc
#endif

/// The SQLite + content-addressed-files implementation of ``MailStore``.
///
/// Metadata lives in `<configdirectory>/corvid.db` (WAL, `synchronous=FULL`), opened once per
/// process as one `DatabasePool`; message bytes live in partition directories (``BlobStore``).
/// Every write goes through the ``WriteQueue`` group committer. Several processes may open the
/// same store (the CLI beside `corvid serve`): SQLite's locking serialises them, and only the
/// process that called ``startServing()`` removes files (staging leftovers, garbage blobs).
public final class SQLiteMailStore: MailStore {
    /// Where the store lives and how it behaves.
    public struct Configuration: Sendable {
        public var configDirectory: String
        /// Partition name → directory.
        public var partitions: [String: String]
        public var defaultPartition: String
        /// Named limit (`message_inline_max`): messages up to this many bytes are stored in the
        /// database row instead of a file (decision 0003); 0 stores every message as a file.
        public var inlineLimit: Int
        /// Named limit: change-feed rows kept before the oldest are pruned.
        public var changeRetention: Int

        public init(
            configDirectory: String,
            partitions: [String: String],
            defaultPartition: String = "default",
            inlineLimit: Int = Configuration.defaultInlineLimit,
            changeRetention: Int = 1_000_000
        ) {
            self.configDirectory = configDirectory
            self.partitions = partitions
            self.defaultPartition = defaultPartition
            self.inlineLimit = inlineLimit
            self.changeRetention = changeRetention
        }

        /// 64 KiB: most mail, well inside the range where SQLite reads and writes blobs faster
        /// than the file system does separate files.
        public static let defaultInlineLimit = 64 * 1024
    }

    let configuration: Configuration
    let pool: DatabasePool
    let blobs: BlobStore
    let logger: Logger
    private let writes: WriteQueue
    private let broadcaster = ChangeBroadcaster()
    /// Set once by ``startServing()``.
    private let checkpointer = Mutex<Checkpointer?>(nil)
    let clock: @Sendable () -> UnixTime

    /// Opens (creating if needed) the store and brings its schema up to date.
    public init(
        configuration: Configuration,
        logger: Logger = Logger(label: "corvid.store"),
        clock: @escaping @Sendable () -> UnixTime = SQLiteMailStore.systemTime
    ) throws(MailStoreError) {
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        try FileOps.makeDirectories(configuration.configDirectory)
        blobs = try BlobStore(partitions: configuration.partitions, defaultPartition: configuration.defaultPartition)
        var config = GRDB.Configuration()
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            // The Checkpointer copies the WAL back in the background; the writer's own automatic
            // checkpoint then finds little left to do, and it is what lets the WAL reset (a
            // background checkpoint always trails the newest commit). The WAL file is truncated
            // back to journal_size_limit after each reset.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 4000")
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
        }
        do {
            pool = try DatabasePool(path: configuration.configDirectory + "/corvid.db", configuration: config)
            try Schema.migrator().migrate(pool)
        } catch {
            throw MailStoreError(mapping: error)
        }
        writes = WriteQueue(pool: pool, blobs: blobs, logger: logger, onCommit: broadcaster.publish)
    }

    /// Wall-clock time from the system.
    public static let systemTime: @Sendable () -> UnixTime = systemUnixTime

    /// Called once by the serving process: removes staging files a crash left behind.
    public func startServing() throws(MailStoreError) {
        blobs.clearStaging()
        do {
            let checkpointer = try Checkpointer(path: configuration.configDirectory + "/corvid.db", logger: logger)
            self.checkpointer.withLock { $0 = checkpointer }
        } catch {
            throw MailStoreError(mapping: error)
        }
    }

    // MARK: - Write plumbing

    /// Runs `body` as one group-committed write job and returns once it is durable.
    func write<T: Sendable>(
        barrier: Bool = false,
        _ body: @escaping @Sendable (Database, inout BatchFiles) throws -> T
    ) async throws(MailStoreError) -> T {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                writes.submit(ClosureJob(continuation: continuation, isBarrier: barrier, body: body))
            }
        } catch {
            throw MailStoreError(mapping: error)
        }
    }

    func submit(_ job: any WriteJob) { writes.submit(job) }

    /// Runs a short read on the calling thread.
    ///
    /// GRDB's async read hops to the reader's dispatch queue and back: two thread switches and
    /// two wake-ups, which cost more than a read of a few rows from the page cache. The hot
    /// reads of sessions (a mailbox row, its changes since a modseq, a batch of message
    /// locations) run here instead. Reads whose size grows with the whole store (every user,
    /// replication state, a check) keep ``read(_:)``, so they never hold an event loop long.
    func readNow<T>(_ body: (Database) throws -> T) throws(MailStoreError) -> T {
        do {
            return try pool.read(body)
        } catch {
            throw MailStoreError(mapping: error)
        }
    }

    /// Runs a read on a Dispatch worker.
    ///
    /// The reader is taken and given back on that worker. GRDB's own async read gives it back
    /// only once the awaiting task runs again; with the event loops blocked in ``readNow(_:)``
    /// waiting for a reader, those tasks could not run, and every reader stayed taken.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws(MailStoreError) -> T {
        let pool = self.pool
        let result: Result<T, MailStoreError> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                do {
                    continuation.resume(returning: .success(try pool.read(body)))
                } catch {
                    continuation.resume(returning: .failure(MailStoreError(mapping: error)))
                }
            }
        }
        return try result.get()
    }

    /// Records a change event in the feed table, within the caller's transaction.
    static func recordChange(
        _ db: Database,
        _ files: inout BatchFiles,
        kind: ChangeEvent.Kind,
        user: String?,
        mailbox: String?,
        uniqueID: String?,
        modSeq: ModSeq?,
        now: UnixTime,
        previousName: String? = nil
    ) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO changes(user, mailbox, uniqueid, kind, modseq, at, oldname) VALUES (?, ?, ?, ?, ?, ?, ?)"
        )
        try statement.execute(arguments: [
            user, mailbox, uniqueID, kind.rawValue, modSeq.map { Int64($0.rawValue) }, now, previousName,
        ])
        files.events.append(
            ChangeEvent(
                sequence: db.lastInsertedRowID,
                user: user,
                mailbox: mailbox,
                mailboxUniqueID: uniqueID,
                kind: kind,
                modSeq: modSeq,
                time: now,
                previousMailbox: previousName
            )
        )
    }

    // MARK: - Change feed

    public func changes(after sequence: Int64, limit: Int) async throws(MailStoreError) -> [ChangeEvent] {
        try readNow { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",
                arguments: [sequence, limit]
            ).map { row in
                ChangeEvent(
                    sequence: row["seq"],
                    user: row["user"],
                    mailbox: row["mailbox"],
                    mailboxUniqueID: row["uniqueid"],
                    kind: ChangeEvent.Kind(rawValue: row["kind"]) ?? .mailboxMeta,
                    modSeq: (row["modseq"] as Int64?).map { ModSeq(UInt64($0)) },
                    time: row["at"],
                    previousMailbox: row["oldname"]
                )
            }
        }
    }

    public func changeNotifications() -> AsyncStream<ChangeEvent> { broadcaster.subscribe() }

    // MARK: - Reads

    public func user(_ name: UserName) async throws(MailStoreError) -> UserAccount? {
        try readNow { db in
            try Row.fetchOne(db, sql: "SELECT * FROM users WHERE name = ?", arguments: [name.name]).map(
                Self.user(from:)
            )
        }
    }

    public func users() async throws(MailStoreError) -> [UserAccount] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM users ORDER BY name").map(Self.user(from:))
        }
    }

    public func mailbox(_ name: MailboxName) async throws(MailStoreError) -> Mailbox? {
        try readNow { db in try Self.fetchMailbox(db, name) }
    }

    public func mailboxWithQuota(_ name: MailboxName) async throws(MailStoreError) -> (Mailbox, QuotaRoot?)? {
        try readNow { db in
            guard let mailbox = try Self.fetchMailbox(db, name) else { return nil }
            return (mailbox, try mailbox.quotaRoot.flatMap { try Self.fetchQuotaRoot(db, $0) })
        }
    }

    public func mailboxes(under root: MailboxName?) async throws(MailStoreError) -> [Mailbox] {
        try await read { db in
            let rows: [Row]
            if let root {
                rows = try Row.fetchAll(
                    db,
                    sql:
                        "SELECT \(Self.mailboxColumns) FROM mailboxes WHERE name = ? OR (name > ? AND name < ?) ORDER BY name",
                    arguments: [root.internalName, root.internalName + ".", root.internalName + "/"]
                )
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT \(Self.mailboxColumns) FROM mailboxes ORDER BY name")
            }
            return try rows.map(Self.mailbox(from:))
        }
    }

    public func records(in name: MailboxName, includeExpunged: Bool) async throws(MailStoreError) -> [MessageRecord] {
        try await read { db in
            let id = try Self.mailboxID(db, name)
            let sql =
                includeExpunged
                ? "SELECT * FROM records WHERE mailbox_id = ? ORDER BY uid"
                : "SELECT * FROM records WHERE mailbox_id = ? AND expunged = 0 ORDER BY uid"
            return try Row.fetchAll(db, sql: sql, arguments: [id]).map(Self.record(from:))
        }
    }

    public func messageBytes(_ guid: MessageGUID) async throws(MailStoreError) -> ByteBuffer {
        let found = try readNow { db -> (partition: String, data: Data?)? in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT partition, data FROM blobs WHERE guid = ?"),
                arguments: [guid.hex]
            ).map { ($0["partition"], $0["data"]) }
        }
        guard let found else { throw MailStoreError(.nonexistent, "no message with GUID \(guid)") }
        if let data = found.data { return ByteBuffer(bytes: data) }
        return try blobs.read(guid, partition: found.partition)
    }

    public func messageBytes(_ guids: [MessageGUID]) async throws(MailStoreError) -> [MessageGUID: ByteBuffer] {
        let unique = Array(Set(guids))
        let located = try readNow { db -> [(MessageGUID, String, Data?)] in
            var found: [(MessageGUID, String, Data?)] = []
            let statement = try db.cachedStatement(sql: "SELECT partition, data FROM blobs WHERE guid = ?")
            for guid in unique {
                if let row = try Row.fetchOne(statement, arguments: [guid.hex]) {
                    found.append((guid, row[0], row[1]))
                }
            }
            return found
        }
        var result: [MessageGUID: ByteBuffer] = [:]
        for (guid, partition, data) in located {
            if let data {
                result[guid] = ByteBuffer(bytes: data)
            } else {
                result[guid] = try blobs.read(guid, partition: partition)
            }
        }
        return result
    }

    public func messageHeaders(_ guids: [MessageGUID]) async throws(MailStoreError) -> [MessageGUID: ByteBuffer] {
        let unique = Array(Set(guids))
        let cached = try readNow { db -> [MessageGUID: ByteBuffer] in
            var found: [MessageGUID: ByteBuffer] = [:]
            let statement = try db.cachedStatement(sql: "SELECT data FROM headers WHERE guid = ?")
            for guid in unique {
                if let data = try Data.fetchOne(statement, arguments: [guid.hex]) {
                    found[guid] = ByteBuffer(bytes: data)
                }
            }
            return found
        }
        let missing = unique.filter { cached[$0] == nil }
        guard !missing.isEmpty else { return cached }
        // Not cached (long headers, or stored before the cache existed): the whole message.
        return cached.merging(try await messageBytes(missing)) { first, _ in first }
    }

    public func quotaRoot(_ root: String) async throws(MailStoreError) -> QuotaRoot? {
        try readNow { db in try Self.fetchQuotaRoot(db, root) }
    }

    public func subscriptions(of user: UserName) async throws(MailStoreError) -> [MailboxName] {
        try readNow { db in
            try String.fetchAll(
                db,
                sql: "SELECT mailbox FROM subscriptions WHERE user = ? ORDER BY mailbox",
                arguments: [user.name]
            )
            .compactMap { try? MailboxName(internal: $0) }
        }
    }

    public func seenState(of user: UserName, mailboxUniqueID: String) async throws(MailStoreError) -> SeenState? {
        try readNow { db in
            try Row.fetchOne(
                db,
                sql: "SELECT * FROM seen WHERE user = ? AND uniqueid = ?",
                arguments: [user.name, mailboxUniqueID]
            )
            .map {
                SeenState(
                    lastRead: $0["lastread"],
                    lastUID: UInt32($0["lastuid"] as Int64),
                    lastChange: $0["lastchange"],
                    seenUIDs: $0["seenuids"]
                )
            }
        }
    }

    public func annotations(in name: MailboxName) async throws(MailStoreError) -> [Annotation] {
        try readNow { db in
            let id = try Self.mailboxID(db, name)
            return try Row.fetchAll(
                db,
                sql: "SELECT * FROM annotations WHERE mailbox_id = ? ORDER BY uid, entry, userid",
                arguments: [id]
            ).map(Self.annotation(from:))
        }
    }

    public func serverAnnotations() async throws(MailStoreError) -> [Annotation] {
        try readNow { db in
            try Row.fetchAll(db, sql: "SELECT * FROM server_annotations ORDER BY entry, userid").map { row in
                Annotation(
                    uid: nil,
                    entry: row["entry"],
                    userID: row["userid"],
                    value: Array(row["value"] as Data? ?? Data())
                )
            }
        }
    }

    public func discardStagedMessage(_ message: StagedMessage) async {
        // Only files under the staging directories are ever named by a token.
        guard !message.token.isEmpty, message.token.contains("/stage/") else { return }
        unlink(message.token)
    }

    public func beginMessage() async throws(MailStoreError) -> any MessageStagingWriter {
        StagingFile(
            directory: try blobs.root(configuration.defaultPartition) + "/stage",
            inlineLimit: configuration.inlineLimit
        )
    }
}
