#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on `<configdirectory>/serve.lock`, held while a process serves or
/// reconstructs a store, so two servers never share one data directory.
public final class ServeLock {
    private let fd: Int32
    private let runningMarker: String
    /// Whether the previous holder of the lock ended without ``markCleanShutdown()`` (a crash,
    /// SIGKILL, power loss): its `serve.running` marker was still there.
    public let previousRunEndedUncleanly: Bool

    /// Takes the lock or throws a one-line explanation.
    public init(configDirectory: String) throws(RuntimeError) {
        let path = configDirectory + "/serve.lock"
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw RuntimeError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw RuntimeError("another corvid process is serving \(configDirectory) (\(path) is locked)")
        }
        runningMarker = configDirectory + "/serve.running"
        previousRunEndedUncleanly = access(runningMarker, F_OK) == 0
    }

    /// For `corvid serve`: leaves the marker that says this run has not ended cleanly (made
    /// durable, so a crash right after start is noticed too).
    public func markRunning() throws(RuntimeError) {
        let marker = open(runningMarker, O_CREAT | O_WRONLY | O_CLOEXEC, 0o640)
        guard marker >= 0 else {
            throw RuntimeError("cannot create \(runningMarker): \(String(cString: strerror(errno)))")
        }
        fsync(marker)
        close(marker)
        let directory = open(
            String(runningMarker[..<(runningMarker.lastIndex(of: "/") ?? runningMarker.endIndex)]),
            O_RDONLY | O_CLOEXEC
        )
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
    }

    /// After a clean shutdown (every service drained): the next start need not verify.
    public func markCleanShutdown() {
        unlink(runningMarker)
    }

    deinit { close(fd) }
}

/// A start-up or runtime failure with a one-line, user-facing message.
public struct RuntimeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
