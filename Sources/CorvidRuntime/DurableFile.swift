#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small POSIX file operations for runtime-owned files (TLS material), with crash-safe writes.
///
/// A write is atomic and durable: the bytes go to a temporary file in the same directory, which is
/// fsynced, renamed over the final name, and then the directory is fsynced so the rename itself
/// survives a crash. A reader therefore sees either the old file or the whole new one.
enum DurableFile {
    /// A failed file operation: which operation, on which path, and `strerror(errno)`.
    struct Failure: Error, CustomStringConvertible {
        var operation: String
        var path: String
        var reason: String

        var description: String { "\(operation) \(path): \(reason)" }

        static func fromErrno(_ operation: String, _ path: String) -> Failure {
            Failure(operation: operation, path: path, reason: String(cString: strerror(errno)))
        }
    }

    /// Whether `path` names an existing file system entry.
    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The permission bits of `path` (`st_mode & 0o7777`).
    static func permissions(_ path: String) throws(Failure) -> mode_t {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .fromErrno("stat", path) }
        return info.st_mode & 0o7777
    }

    /// Creates `path` and any missing parents; new directories get `mode`.
    static func makeDirectories(_ path: String, mode: mode_t) throws(Failure) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, mode) != 0 && errno != EEXIST {
                throw .fromErrno("mkdir", current)
            }
        }
    }

    /// The whole content of `path`.
    static func read(_ path: String) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .fromErrno("open", path) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .fromErrno("read", path)
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<n])
        }
    }

    /// Replaces `path` with `bytes` atomically and durably; the file gets permission bits `mode`.
    ///
    /// The temporary file is created with `mode` from the start (`O_EXCL`), so a private key is
    /// never readable by others, not even briefly.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t) throws(Failure) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .fromErrno("create", temporary) }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        do {
            defer { close(fd) }
            // The umask may have narrowed `mode` at creation; set it exactly.
            guard fchmod(fd, mode) == 0 else { throw Failure.fromErrno("chmod", temporary) }
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure.fromErrno("write", temporary)
                }
                offset += n
            }
            guard fsync(fd) == 0 else { throw Failure.fromErrno("fsync", temporary) }
        }
        guard rename(temporary, path) == 0 else { throw .fromErrno("rename", path) }
        renamed = true
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw .fromErrno("open", directory) }
        defer { close(directoryFD) }
        guard fsync(directoryFD) == 0 else { throw .fromErrno("fsync", directory) }
    }
}
