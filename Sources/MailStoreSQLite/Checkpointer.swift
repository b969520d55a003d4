import Dispatch
import GRDB
import Logging
import Synchronization

/// Copies the WAL into the database file in the background, off the commit path.
///
/// SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, so with
/// message bytes in the WAL (decision 0003) every ~250th delivery paid for copying megabytes
/// and an fsync of the database file. Connections now have `wal_autocheckpoint = 0`, and the
/// serving process runs PASSIVE checkpoints (which never block writers or readers) on its own
/// connection, on a timer. Short-lived CLI processes leave checkpointing to the server, and
/// SQLite checkpoints anyway when the last connection closes.
final class Checkpointer: Sendable {
    private let connection: DatabaseQueue
    private let queue = DispatchQueue(label: "corvid.store.checkpoint")
    private let logger: Logger

    /// Named limit: how often the WAL is copied back.
    static let interval: DispatchTimeInterval = .milliseconds(100)

    init(path: String, logger: Logger) throws {
        var config = GRDB.Configuration()
        config.busyMode = .timeout(30)
        config.label = "corvid.store.checkpoint"
        connection = try DatabaseQueue(path: path, configuration: config)
        self.logger = logger
        schedule()
    }

    private func schedule() {
        queue.asyncAfter(deadline: .now() + Self.interval) { [weak self] in
            guard let self else { return }
            do {
                _ = try self.connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY {
                // A writer held the lock for this instant; the next tick checkpoints. Normal.
                self.logger.debug("WAL checkpoint deferred: database busy")
            } catch {
                self.logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
            }
            self.schedule()
        }
    }
}
