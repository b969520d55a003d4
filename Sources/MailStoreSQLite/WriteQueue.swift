import Dispatch
import GRDB
import Logging
import MailStore
import Metrics
import Synchronization

/// One unit of work for the group committer.
///
/// `prepareFiles` runs first for every job of a batch (inside the batch's write transaction,
/// before the file system is synced); `apply` then runs inside its own savepoint, so a job that
/// throws is rolled back alone; `finish` runs after the batch commits or fails.
protocol WriteJob: AnyObject, Sendable {
    func prepareFiles(_ db: Database, _ batch: inout BatchFiles) throws
    func apply(_ db: Database, _ batch: inout BatchFiles) throws
    func finish(commitError: MailStoreError?, events: [ChangeEvent])
}

extension WriteJob {
    func prepareFiles(_ db: Database, _ batch: inout BatchFiles) throws {}
}

/// File work shared by one batch: which partitions need a sync, and blobs placed so far.
struct BatchFiles {
    var partitionsToSync: Set<String> = []
    /// GUIDs (hex) known to have a durable-after-sync file and a `blobs` row in this batch.
    var knownBlobs: Set<String> = []
    /// Staging files to unlink once the batch is over.
    var stagingToRemove: [String] = []
    /// Blob files to unlink after commit (garbage collection).
    var blobsToRemove: [(guid: String, partition: String)] = []
    /// Change events recorded by the job currently applying.
    var events: [ChangeEvent] = []
}

/// Group commit: concurrent writers share one write transaction and one fsync.
///
/// Writers enqueue jobs; a single drain loop on its own dispatch queue (never the cooperative
/// pool: it blocks in fsync) takes *every* pending job, runs them in one `BEGIN IMMEDIATE`
/// transaction, syncs the message files once, commits (one WAL fsync), then completes them all.
/// While a batch commits, new jobs accumulate for the next one, so under load the batch size
/// grows with the arrival rate and the cost per message falls.
final class WriteQueue: Sendable {
    private struct State {
        var pending: [any WriteJob] = []
        var draining = false
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "corvid.store.commit")
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
        if start { queue.async { self.drain() } }
    }

    private func drain() {
        while true {
            let batch: [any WriteJob] = state.withLock { state in
                let take = Array(state.pending.prefix(WriteQueue.maxBatch))
                state.pending.removeFirst(take.count)
                if take.isEmpty { state.draining = false }
                return take
            }
            if batch.isEmpty { return }
            run(batch)
        }
    }

    private func run(_ batch: [any WriteJob]) {
        var files = BatchFiles()
        var eventsPerJob: [[ChangeEvent]] = Array(repeating: [], count: batch.count)
        var failure: MailStoreError?
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    for job in batch { try job.prepareFiles(db, &files) }
                    // One flush for every message file of the batch, before any row points at one.
                    for partition in files.partitionsToSync.sorted() { try blobs.syncPartition(partition) }
                    for (index, job) in batch.enumerated() {
                        files.events = []
                        try db.inSavepoint {
                            do {
                                try job.apply(db, &files)
                                return .commit
                            } catch is JobRejected {
                                return .rollback
                            }
                        }
                        eventsPerJob[index] = files.events
                    }
                    return .commit
                }
            }
        } catch let error as MailStoreError {
            failure = error
        } catch {
            failure = MailStoreError(.ioFailure, "commit failed: \(error)")
        }
        if let failure {
            logger.error("group commit failed", metadata: ["store.batch": "\(batch.count)", "error": "\(failure)"])
        }
        for path in files.stagingToRemove { unlinkQuietly(path) }
        if failure == nil {
            for blob in files.blobsToRemove { blobs.remove(.init(hex: blob.guid)!, partition: blob.partition) }
        }
        Counter(label: "corvid_store_commit_batches_total").increment()
        Recorder(label: "corvid_store_commit_batch_size").record(batch.count)
        Timer(label: "corvid_store_commit_seconds").recordNanoseconds(
            Int64(DispatchTime.now().uptimeNanoseconds - started)
        )
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

    init(
        continuation: CheckedContinuation<T, any Error>,
        body: @escaping @Sendable (Database, inout BatchFiles) throws -> T
    ) {
        self.continuation = continuation
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

#if canImport(Glibc)
import Glibc
#endif

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
