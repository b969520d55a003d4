#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on `<configdirectory>/serve.lock`, held while a process serves or
/// reconstructs a store, so two servers never share one data directory.
public final class ServeLock {
    private let fd: Int32

    /// Takes the lock or throws a one-line explanation.
    public init(configDirectory: String) throws(RuntimeError) {
        let path = configDirectory + "/serve.lock"
        fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw RuntimeError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw RuntimeError("another corvid process is serving \(configDirectory) (\(path) is locked)")
        }
    }

    deinit { close(fd) }
}

/// A start-up or runtime failure with a one-line, user-facing message.
public struct RuntimeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
