import Crypto
import Dispatch
import MailCore
import MailStore
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Content-addressed message files: `<partition>/<g0g1>/<g2g3>/<guid>`, one file per GUID.
///
/// Incoming messages are written to `<partition>/stage/` and fdatasynced when complete. The
/// group committer renames each new GUID's staging file to its final name and fsyncs the
/// directories it changed before the index rows that reference them are committed. A crash
/// before that commit leaves at most unreferenced files, never a row without its bytes.
struct BlobStore: Sendable {
    /// Partition name → directory.
    let partitions: [String: String]
    let defaultPartition: String

    init(partitions: [String: String], defaultPartition: String) throws(MailStoreError) {
        guard partitions[defaultPartition] != nil else {
            throw MailStoreError(.invalidArgument, "no directory for partition \(defaultPartition)")
        }
        self.partitions = partitions
        self.defaultPartition = defaultPartition
        for path in partitions.values {
            try FileOps.makeDirectories(path)
            try FileOps.makeDirectories(path + "/stage")
        }
    }

    func root(_ partition: String) throws(MailStoreError) -> String {
        guard let path = partitions[partition] else {
            throw MailStoreError(.invalidArgument, "unknown partition \(partition)")
        }
        return path
    }

    func path(of guid: MessageGUID, partition: String) throws(MailStoreError) -> String {
        let hex = guid.hex
        let a = hex.prefix(2)
        let b = hex.dropFirst(2).prefix(2)
        return try root(partition) + "/\(a)/\(b)/\(hex)"
    }

    /// Removes staging files left by a crash. Only the serving process may call this.
    func clearStaging() {
        for path in partitions.values {
            for name in FileOps.listDirectory(path + "/stage") { unlink(path + "/stage/" + name) }
        }
    }

    /// Moves a staged (already fdatasynced) file to its content-addressed name. Returns the
    /// directories whose entries changed: the caller fsyncs them before any row names the file.
    func promote(stagingPath: String, to guid: MessageGUID, partition: String) throws(MailStoreError) -> [String] {
        let final = try path(of: guid, partition: partition)
        let leaf = String(final[..<final.lastIndex(of: "/")!])
        var changed = [leaf]
        if rename(stagingPath, final) != 0 {
            guard errno == ENOENT else {
                throw MailStoreError(.ioFailure, "rename \(stagingPath) → \(final): \(FileOps.errnoText())")
            }
            // First file in this hash directory: create it (and its parent), and sync their parents.
            let middle = String(leaf[..<leaf.lastIndex(of: "/")!])
            let root = String(middle[..<middle.lastIndex(of: "/")!])
            for (dir, parent) in [(middle, root), (leaf, middle)] {
                if mkdir(dir, 0o750) == 0 {
                    changed.append(parent)
                } else if errno != EEXIST {
                    throw MailStoreError(.ioFailure, "mkdir \(dir): \(FileOps.errnoText())")
                }
            }
            guard rename(stagingPath, final) == 0 else {
                throw MailStoreError(.ioFailure, "rename \(stagingPath) → \(final): \(FileOps.errnoText())")
            }
        }
        return changed
    }

    /// Places a staged file at its content-addressed name while leaving the staging file where
    /// it is (replication: one upload may serve several mailboxes, and the sync session discards
    /// its staging area itself). A hard link shares the bytes the staging writer already
    /// fdatasynced; where linking is impossible the bytes are copied and fdatasynced. Returns the
    /// directories to fsync before any row names the file, as ``promote(stagingPath:to:partition:)``.
    func placeCopy(of stagingPath: String, as guid: MessageGUID, partition: String) throws(MailStoreError) -> [String] {
        var random = SystemRandomNumberGenerator()
        let temporary = stagingPath + "." + String(random.next(), radix: 36) + ".link"
        if link(stagingPath, temporary) != 0 {
            guard errno != ENOENT else {
                throw MailStoreError(.nonexistent, "staged bytes of message \(guid) are gone")
            }
            try FileOps.copyFile(stagingPath, to: temporary)
        }
        do {
            return try promote(stagingPath: temporary, to: guid, partition: partition)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Makes a directory's entries durable (renames and creations in it).
    func syncDirectory(_ path: String) throws(MailStoreError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw MailStoreError(.ioFailure, "open \(path): \(FileOps.errnoText())") }
        defer { close(fd) }
        if fsync(fd) != 0 {
            throw MailStoreError(.ioFailure, "fsync \(path): \(FileOps.errnoText())")
        }
    }

    /// Reads a message file whole, or its first `maximum` bytes.
    func read(_ guid: MessageGUID, partition: String, upTo maximum: Int = .max) throws(MailStoreError) -> ByteBuffer {
        try FileOps.readFile(try path(of: guid, partition: partition), upTo: maximum)
    }

    /// Deletes a message file; a missing file is not an error.
    func remove(_ guid: MessageGUID, partition: String) {
        if let path = try? path(of: guid, partition: partition) { unlink(path) }
    }

    /// Every GUID that has a file on a partition (for check and reconstruct).
    func allGUIDs(partition: String) throws(MailStoreError) -> [MessageGUID] {
        let base = try root(partition)
        var result: [MessageGUID] = []
        for a in FileOps.listDirectory(base) where a.utf8.count == 2 {
            for b in FileOps.listDirectory(base + "/" + a) where b.utf8.count == 2 {
                for name in FileOps.listDirectory(base + "/" + a + "/" + b) {
                    if let guid = MessageGUID(hex: name) { result.append(guid) }
                }
            }
        }
        return result
    }

    /// SHA-1 of a stored file, streamed.
    func hash(_ guid: MessageGUID, partition: String) throws(MailStoreError) -> (MessageGUID, Int64) {
        try FileOps.sha1(ofFile: try path(of: guid, partition: partition))
    }
}

/// A message being staged; hashes as it is written.
///
/// Up to `inlineLimit` bytes it stays in memory and the message is stored inline in the
/// database (no file, no file flush). Past that it spills to a file in the staging directory,
/// which is fdatasynced when the message is complete.
final class StagingFile: MessageStagingWriter {
    // An engine owns one writer and calls it sequentially; the lock makes misuse safe, not fast.
    private let lock = Mutex(State())
    private let directory: String
    private let inlineLimit: Int

    private struct State {
        var fd: Int32 = -1
        var path = ""
        var memory: ByteBuffer? = ByteBuffer()
        var hasher = Insecure.SHA1()
        var size: Int64 = 0
        var finished = false
        /// The header as it arrives, until its blank line (then `headerDone`) or the cache limit.
        var header: ByteBuffer? = ByteBuffer()
        var headerDone = false
    }

    init(directory: String, inlineLimit: Int) {
        self.directory = directory
        self.inlineLimit = inlineLimit
    }

    func write(_ bytes: ByteBuffer) async throws(MailStoreError) {
        try lock.withLock { state throws(MailStoreError) in
            guard !state.finished else { throw MailStoreError(.invalidArgument, "staged message already finished") }
            bytes.withUnsafeReadableBytes { state.hasher.update(bufferPointer: $0) }
            state.size += Int64(bytes.readableBytes)
            Self.captureHeader(&state, bytes)
            if var memory = state.memory {
                state.memory = nil
                memory.writeImmutableBuffer(bytes)
                if memory.readableBytes <= inlineLimit {
                    state.memory = memory
                    return
                }
                // Too big to keep inline: spill what we have to a staging file.
                try openFile(&state)
                try memory.withUnsafeReadableBytes { raw throws(MailStoreError) in
                    try FileOps.writeAll(fd: state.fd, raw)
                }
                return
            }
            try bytes.withUnsafeReadableBytes { raw throws(MailStoreError) in try FileOps.writeAll(fd: state.fd, raw) }
        }
    }

    /// Keeps the header bytes through the first empty line (``HeaderCache``'s rule).
    private static func captureHeader(_ state: inout State, _ bytes: ByteBuffer) {
        guard !state.headerDone, var header = state.header else { return }
        state.header = nil
        let scanned = header.readableBytes
        header.writeImmutableBuffer(bytes)
        // Resume a little before the new bytes, so an empty line split across writes is found.
        if let end = HeaderCache.headerLength(in: header.readableBytesView, scanningFrom: max(0, scanned - 3)) {
            state.headerDone = true
            guard end <= HeaderCache.limit else { return }
            header.moveWriterIndex(to: header.readerIndex + end)
            state.header = header
            return
        }
        if header.readableBytes <= HeaderCache.limit { state.header = header }
    }

    private func openFile(_ state: inout State) throws(MailStoreError) {
        var random = SystemRandomNumberGenerator()
        state.path = directory + "/" + String(random.next(), radix: 36) + String(random.next(), radix: 36) + ".tmp"
        state.fd = open(state.path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard state.fd >= 0 else { throw MailStoreError(.ioFailure, "create \(state.path): \(FileOps.errnoText())") }
    }

    func finish() async throws(MailStoreError) -> StagedMessage {
        let (fd, path, staged) = try lock.withLock { state throws(MailStoreError) in
            guard !state.finished else { throw MailStoreError(.invalidArgument, "staged message already finished") }
            state.finished = true
            let guid = MessageGUID(bytes: Array(state.hasher.finalize()))!
            // A message without a blank line is all header: cache it whole if it is small.
            let header = state.header.flatMap { $0.readableBytes <= HeaderCache.limit ? $0 : nil }
            if let memory = state.memory {
                return (
                    Int32(-1), "",
                    StagedMessage(guid: guid, size: state.size, token: "", inlineBytes: memory, header: header)
                )
            }
            let fd = state.fd
            state.fd = -1
            return (fd, state.path, StagedMessage(guid: guid, size: state.size, token: state.path, header: header))
        }
        guard fd >= 0 else { return staged }
        // Flush the bytes here, in parallel with every other session (concurrent fsyncs share
        // device flushes), so the group committer only has directory entries left to sync.
        // fdatasync blocks, so it runs on a Dispatch worker, never on an event loop.
        let failure: Int32 = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                let rc = fdatasync(fd)
                let saved = rc == 0 ? 0 : errno
                close(fd)
                continuation.resume(returning: saved)
            }
        }
        guard failure == 0 else {
            throw MailStoreError(.ioFailure, "fdatasync \(path): \(String(cString: strerror(failure)))")
        }
        return staged
    }

    func discard() async {
        let path = lock.withLock { state -> String in
            if state.fd >= 0 { close(state.fd) }
            state.fd = -1
            state.finished = true
            state.memory = nil
            return state.path
        }
        if !path.isEmpty { unlink(path) }
    }

    deinit {
        let (fd, path) = lock.withLock { ($0.fd, $0.path) }
        if fd >= 0 {
            close(fd)
            unlink(path)
        }
    }
}

/// Thin POSIX file helpers with errors mapped to ``MailStoreError``.
enum FileOps {
    static func errnoText() -> String { String(cString: strerror(errno)) }

    static func makeDirectories(_ path: String) throws(MailStoreError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o750) != 0 && errno != EEXIST {
                throw MailStoreError(.ioFailure, "mkdir \(current): \(errnoText())")
            }
        }
    }

    static func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func writeAll(fd: Int32, _ raw: UnsafeRawBufferPointer) throws(MailStoreError) {
        var offset = 0
        while offset < raw.count {
            let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw MailStoreError(.ioFailure, "write: \(errnoText())")
            }
            offset += n
        }
    }

    /// Copies a file to a new path (created exclusively) and fdatasyncs the copy.
    static func copyFile(_ source: String, to destination: String) throws(MailStoreError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else {
            throw MailStoreError(errno == ENOENT ? .nonexistent : .ioFailure, "open \(source): \(errnoText())")
        }
        defer { close(input) }
        let output = open(destination, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw MailStoreError(.ioFailure, "create \(destination): \(errnoText())") }
        var failure: MailStoreError?
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 8)
        defer { chunk.deallocate() }
        while failure == nil {
            let n = read(input, chunk.baseAddress!, chunk.count)
            if n < 0 && errno == EINTR { continue }
            if n < 0 {
                failure = MailStoreError(.ioFailure, "read \(source): \(errnoText())")
                break
            }
            if n == 0 { break }
            do {
                try writeAll(fd: output, UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            } catch {
                failure = error
            }
        }
        if failure == nil && fdatasync(output) != 0 {
            failure = MailStoreError(.ioFailure, "fdatasync \(destination): \(errnoText())")
        }
        close(output)
        if let failure {
            unlink(destination)
            throw failure
        }
    }

    /// Reads a file whole, or only its first `maximum` bytes.
    static func readFile(_ path: String, upTo maximum: Int = .max) throws(MailStoreError) -> ByteBuffer {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw MailStoreError(errno == ENOENT ? .corrupted : .ioFailure, "open \(path): \(errnoText())")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw MailStoreError(.ioFailure, "stat \(path): \(errnoText())") }
        // One byte over what is read, so the read that sees end-of-file needs no growth (a full
        // buffer would double, copying the whole message).
        var buffer = ByteBufferAllocator().buffer(capacity: min(Int(st.st_size), maximum) + 1)
        var failure: Int32 = 0
        while buffer.readableBytes < maximum {
            let wanted = maximum - buffer.readableBytes
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1) { ptr in
                while true {
                    let r = read(fd, ptr.baseAddress!, min(ptr.count, wanted))
                    if r >= 0 { return r }
                    if errno != EINTR {
                        failure = errno
                        return 0
                    }
                }
            }
            if failure != 0 {
                throw MailStoreError(.ioFailure, "read \(path): \(String(cString: strerror(failure)))")
            }
            if n == 0 { break }
        }
        return buffer
    }

    static func sha1(ofFile path: String) throws(MailStoreError) -> (MessageGUID, Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw MailStoreError(errno == ENOENT ? .corrupted : .ioFailure, "open \(path): \(errnoText())")
        }
        defer { close(fd) }
        var hasher = Insecure.SHA1()
        var total: Int64 = 0
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 8)
        defer { chunk.deallocate() }
        while true {
            let n = read(fd, chunk.baseAddress!, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw MailStoreError(.ioFailure, "read \(path): \(errnoText())") }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
            total += Int64(n)
        }
        return (MessageGUID(bytes: Array(hasher.finalize()))!, total)
    }
}
