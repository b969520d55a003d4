import NIOCore

/// The client end of a session run over in-memory streams (IMAP, POP3 and csync tests): bytes
/// in through `input`, the server's output read back line by line, each read bounded by
/// ``lineTimeout`` so a test fails instead of hanging.
public final class InMemorySessionClient: @unchecked Sendable {
    public let input: AsyncStream<ByteBuffer>.Continuation
    /// Where the server's session writes (hand it to the transport the session runs over).
    public let sink: AsyncStream<ByteBuffer>.Continuation
    private var output: AsyncStream<ByteBuffer>.AsyncIterator
    private var received: [UInt8] = []

    public struct Closed: Error {}
    public struct TimedOut: Error {}

    /// Named limit: how long a test waits for one line.
    public static let lineTimeout: Duration = .seconds(20)

    public init() {
        let (inputStream, inputContinuation) = AsyncStream<ByteBuffer>.makeStream()
        let (outputStream, outputContinuation) = AsyncStream<ByteBuffer>.makeStream()
        input = inputContinuation
        sink = outputContinuation
        output = outputStream.makeAsyncIterator()
        self.inputStream = inputStream
    }

    /// The stream the server's session reads.
    public let inputStream: AsyncStream<ByteBuffer>

    public func send(_ bytes: [UInt8]) { input.yield(ByteBuffer(bytes: bytes)) }
    public func send(_ text: String) { send(Array(text.utf8)) }
    /// Ends the input, as a client that drops the connection.
    public func close() { input.finish() }

    /// The next line, without its CRLF (or bare LF).
    public func readLine() async throws -> String {
        try await bounded { try await self.readLineUnbounded() }
    }

    /// Exactly `count` bytes (a literal's payload).
    public func readBytes(_ count: Int) async throws -> [UInt8] {
        try await bounded {
            while self.received.count < count { try await self.receiveMore() }
            defer { self.received.removeFirst(count) }
            return Array(self.received[..<count])
        }
    }

    /// Whether the server has closed the session (nothing more will come).
    public func isClosed() async throws -> Bool {
        do {
            _ = try await readLine()
            return false
        } catch is Closed {
            return true
        }
    }

    private func bounded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: Self.lineTimeout)
                throw TimedOut()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private func readLineUnbounded() async throws -> String {
        while true {
            if let end = received.firstIndex(of: 10) {
                var line = Array(received[..<end])
                if line.last == 13 { line.removeLast() }
                received.removeFirst(end + 1)
                return String(decoding: line, as: UTF8.self)
            }
            try await receiveMore()
        }
    }

    private func receiveMore() async throws {
        guard let chunk = await output.next() else { throw Closed() }
        received += chunk.readableBytesView
    }
}
