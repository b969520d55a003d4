import Dispatch
import GRDB
import Logging
import MailStore
import Metrics
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One unit of work for the group committer.
///
/// `prepareFiles` runs in the file stage with a read-only view of the committed database:
/// it places message files (not yet durable). `apply` runs in the commit stage inside the
/// batch's write transaction, after the files were synced; with ``needsSavepoint`` it runs in
/// its own savepoint, so a job that throws is rolled back alone. `finish` runs after the batch
/// committed or failed.
protocol WriteJob: AnyObject, Sendable {
    /// Whether `apply` must run inside its own savepoint. A job that decides every refusal
    /// before its first write (deliveries) does not need one, and saves two statements.
    var needsSavepoint: Bool { get }
    /// Whether the job must run with the pipeline drained: jobs that delete message files
    /// (garbage collection, reconstruct) must not overlap a file stage that relies on them.
    var isBarrier: Bool { get }
    func prepareFiles(_ db: Database, _ batch: inout BatchFiles, _ placing: PlacementLedger) throws
    func apply(_ db: Database, _ batch: inout BatchFiles) throws
    func finish(commitError: MailStoreError?, events: [ChangeEvent])
}

extension WriteJob {
    func prepareFiles(_ db: Database, _ batch: inout BatchFiles, _ placing: PlacementLedger) throws {}
    var needsSavepoint: Bool { true }
    var isBarrier: Bool { false }
}

/// File work shared by one batch.
struct BatchFiles: Sendable {
    /// Directories whose entries this batch changed; fsynced before the commit stage.
    var directoriesToSync: Set<String> = []
    /// GUIDs (hex) whose file is durable once this batch's sync returns.
    var knownBlobs: Set<String> = []
    /// GUIDs (hex) this batch placed; removed from the ledger when the batch ends.
    var placed: [String] = []
    /// Blob files to unlink after commit (garbage collection; barrier jobs only).
    var blobsToRemove: [(guid: String, partition: String)] = []
    /// Change events recorded by the job currently applying.
    var events: [ChangeEvent] = []
}

/// GUIDs whose files were placed and synced by the file stage but whose batch has not
/// committed yet. The file stage must not place them again, and must treat them as durable.
final class PlacementLedger: Sendable {
    private let guids = Mutex<Set<String>>([])

    func contains(_ guid: String) -> Bool { guids.withLock { $0.contains(guid) } }
    func insert(_ guid: String) { _ = guids.withLock { $0.insert(guid) } }
    func remove(_ list: [String]) { guids.withLock { for guid in list { $0.remove(guid) } } }
}

/// Group commit in two pipelined stages; concurrent writers share transactions and fsyncs.
///
/// Writers enqueue jobs. The **file stage** (its own dispatch queue: it blocks in fsync)
/// takes every pending job, renames the new (already fdatasynced) message files into place and
/// fsyncs the directories it changed, then hands the batch to the **commit stage**, which runs every job in one
/// `BEGIN IMMEDIATE` transaction and commits (one WAL fsync). While batch N commits, batch N+1
/// syncs its files and batch N+2 accumulates, so each flush is shared by all the writers that
/// arrived meanwhile, and the two flushes of consecutive batches overlap.
///
/// Invariant: a `blobs` row is committed only after its file was synced. Jobs that delete
/// files are barriers: they run alone, with both stages idle.
final class WriteQueue: Sendable {
    private struct State {
        var pending: [any WriteJob] = []
        var draining = false
    }

    private let state = Mutex(State())
    private let fileQueue = DispatchQueue(label: "corvid.store.files")
    private let commitQueue = DispatchQueue(label: "corvid.store.commit")
    /// At most one batch in the commit stage while the next one prepares.
    private let handoff = DispatchSemaphore(value: 1)
    private let ledger = PlacementLedger()
    private let pool: DatabasePool
    private let blobs: BlobStore
    private let logger: Logger
    private let onCommit: @Sendable ([ChangeEvent]) -> Void
    /// Named limit: jobs in one batch; larger backlogs are split so one commit stays short.
    static let maxBatch = 512

    init(pool: DatabasePool, blobs: BlobStore, logger: Logger, onCommit: @escaping @Sendable ([ChangeEvent]) -> Void) {
        self.pool = pool
        self.blobs = blobs
        self.logger = logger
        self.onCommit = onCommit
    }

    func submit(_ job: any WriteJob) {
        let start = state.withLock { state -> Bool in
            state.pending.append(job)
            if state.draining { return false }
            state.draining = true
            return true
        }
        if start { fileQueue.async { self.drain() } }
    }

    /// The file stage's loop.
    private func drain() {
        while true {
            let batch: [any WriteJob] = state.withLock { state in
                var take: [any WriteJob] = []
                if let first = state.pending.first, first.isBarrier {
                    take = [first]
                } else {
                    for job in state.pending.prefix(WriteQueue.maxBatch) {
                        if job.isBarrier { break }
                        take.append(job)
                    }
                }
                state.pending.removeFirst(take.count)
                if take.isEmpty { state.draining = false }
                return take
            }
            if batch.isEmpty { return }
            let started = DispatchTime.now().uptimeNanoseconds
            if batch[0].isBarrier {
                handoff.wait()
                commitQueue.sync { self.commit(batch, BatchFiles(), started: started) }
                handoff.signal()
                continue
            }
            var files = BatchFiles()
            do {
                try prepare(batch, &files)
            } catch {
                let failure = MailStoreError(mapping: error)
                logger.error(
                    "message file sync failed",
                    metadata: ["store.batch": "\(batch.count)", "error": "\(failure)"]
                )
                ledger.remove(files.placed)
                for job in batch { job.finish(commitError: failure, events: []) }
                continue
            }
            handoff.wait()
            let prepared = files
            commitQueue.async {
                self.commit(batch, prepared, started: started)
                self.handoff.signal()
            }
        }
    }

    /// Places the batch's files and makes them durable.
    private func prepare(_ batch: [any WriteJob], _ files: inout BatchFiles) throws {
        let ledger = self.ledger
        // What the jobs placed so far, kept outside the read so that a failure part-way through
        // (a later job's lookup) still takes them back out of the ledger: unsynced files must
        // never be trusted by another batch.
        let placedSoFar = Mutex<[String]>([])
        do {
            files = try pool.read { db in
                var files = BatchFiles()
                for job in batch {
                    try job.prepareFiles(db, &files, ledger)
                    placedSoFar.withLock { $0 = files.placed }
                }
                return files
            }
        } catch {
            ledger.remove(placedSoFar.withLock { $0 })
            throw error
        }
        let syncStarted = DispatchTime.now().uptimeNanoseconds
        // In parallel: concurrent fsyncs let the block layer merge their device flushes.
        let directories = files.directoriesToSync.sorted()
        let failures = Mutex<[MailStoreError]>([])
        DispatchQueue.concurrentPerform(iterations: directories.count) { index in
            do {
                try blobs.syncDirectory(directories[index])
            } catch {
                failures.withLock { $0.append(MailStoreError(mapping: error)) }
            }
        }
        if let failure = failures.withLock({ $0.first }) { throw failure }
        StoreMetrics.fileSyncSeconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - syncStarted))
    }

    /// The commit stage: one transaction for the whole batch.
    private func commit(_ batch: [any WriteJob], _ prepared: BatchFiles, started: UInt64) {
        var files = prepared
        var eventsPerJob: [[ChangeEvent]] = Array(repeating: [], count: batch.count)
        var failure: MailStoreError?
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    for (index, job) in batch.enumerated() {
                        files.events = []
                        if job.needsSavepoint {
                            try db.inSavepoint {
                                do {
                                    try job.apply(db, &files)
                                    return .commit
                                } catch is JobRejected {
                                    return .rollback
                                }
                            }
                        } else {
                            try job.apply(db, &files)
                        }
                        eventsPerJob[index] = files.events
                    }
                    return .commit
                }
            }
        } catch {
            failure = MailStoreError(mapping: error)
        }
        if let failure {
            logger.error("group commit failed", metadata: ["store.batch": "\(batch.count)", "error": "\(failure)"])
        } else {
            for blob in files.blobsToRemove { blobs.remove(.init(hex: blob.guid)!, partition: blob.partition) }
        }
        ledger.remove(files.placed)
        StoreMetrics.batches.increment()
        StoreMetrics.batchSize.record(batch.count)
        StoreMetrics.commitSeconds.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        for (index, job) in batch.enumerated() {
            job.finish(commitError: failure, events: failure == nil ? eventsPerJob[index] : [])
        }
        if failure == nil { onCommit(eventsPerJob.flatMap { $0 }) }
    }
}

/// Thrown by a job's `apply` to roll back its savepoint without failing the batch; the job
/// has already recorded its own error result.
struct JobRejected: Error {}

/// A write job running a closure in its savepoint and resuming a continuation with the result.
final class ClosureJob<T: Sendable>: WriteJob {
    private let body: @Sendable (Database, inout BatchFiles) throws -> T
    private let result = Mutex<Result<T, MailStoreError>?>(nil)
    private let continuation: CheckedContinuation<T, any Error>
    let isBarrier: Bool

    init(
        continuation: CheckedContinuation<T, any Error>,
        isBarrier: Bool = false,
        body: @escaping @Sendable (Database, inout BatchFiles) throws -> T
    ) {
        self.continuation = continuation
        self.isBarrier = isBarrier
        self.body = body
    }

    func apply(_ db: Database, _ batch: inout BatchFiles) throws {
        do {
            let value = try body(db, &batch)
            result.withLock { $0 = .success(value) }
        } catch {
            // The savepoint rolls this job back alone; the rest of the batch commits.
            result.withLock { $0 = .failure(MailStoreError(mapping: error)) }
            throw JobRejected()
        }
    }

    func finish(commitError: MailStoreError?, events: [ChangeEvent]) {
        if let commitError {
            continuation.resume(throwing: commitError)
            return
        }
        switch result.withLock({ $0 }) {
        case .success(let value): continuation.resume(returning: value)
        case .failure(let error): continuation.resume(throwing: error)
        case nil: continuation.resume(throwing: MailStoreError(.ioFailure, "write job did not run"))
        }
    }
}

func unlinkQuietly(_ path: String) {
    _ = path.withCString { unlink($0) }
}

extension MailStoreError {
    /// Maps any error from GRDB or the file system to a store error.
    init(mapping error: any Error) {
        if let error = error as? MailStoreError {
            self = error
        } else if let error = error as? DatabaseError {
            self.init(.ioFailure, "database: \(error.resultCode) \(error.message ?? "")")
        } else {
            self.init(.ioFailure, "\(error)")
        }
    }
}

/// Metric handles of the store, created once.
enum StoreMetrics {
    static let batches = Counter(label: "corvid_store_commit_batches_total")
    static let batchSize = Recorder(label: "corvid_store_commit_batch_size")
    static let commitSeconds = Timer(label: "corvid_store_commit_seconds")
    static let fileSyncSeconds = Timer(label: "corvid_store_file_sync_seconds")
}
