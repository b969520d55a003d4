import Logging
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Replication

#if canImport(Glibc)
import Glibc
#endif

/// A real SQLite store and replica-side csync sessions over in-memory streams.
final class SyncTestServer: Sendable {
    let directory: String
    let store: SQLiteMailStore
    let connection: SyncServerConnection

    struct Passwords: SyncAuthenticator {
        func authenticate(user: String, password: String) async -> Bool { password == "secret" }
    }

    init(
        configuration: SyncServerConfiguration = SyncServerConfiguration(
            admins: ["repluser"],
            allowPlaintext: true,
            failedLoginDelay: 0.001
        )
    ) throws {
        var template = Array("/tmp/corvid-sync-XXXXXX".utf8CString)
        directory = String(cString: mkdtemp(&template)!)
        store = try SQLiteMailStore(
            configuration: .init(configDirectory: directory + "/conf", partitions: ["default": directory + "/spool"])
        )
        connection = SyncServerConnection(
            configuration: configuration,
            store: store,
            authenticator: Passwords(),
            logger: Logger(label: "test")
        )
    }

    deinit { _ = system("rm -rf '\(directory)'") }

    /// Opens a session and reads the banner (through `* OK`).
    func connect() async throws -> SyncTestClient {
        let client = SyncTestClient(connection: connection)
        client.banner = try await client.readUntil { $0.hasPrefix("* OK") }
        return client
    }

    /// A session logged in as the replication admin.
    func login() async throws -> SyncTestClient {
        let client = try await connect()
        let reply = try await client.command("AUTHENTICATE PLAIN AHJlcGx1c2VyAHNlY3JldA==")
        precondition(reply == ["OK Success (no protection)"], "login failed: \(reply)")
        return client
    }
}

/// The master side of one in-memory session: raw lines out, raw lines in.
final class SyncTestClient: @unchecked Sendable {
    struct Transport: SyncTransport {
        let sink: AsyncStream<ByteBuffer>.Continuation
        func write(_ buffer: ByteBuffer) async throws { sink.yield(buffer) }
        func startTLS(after reply: ByteBuffer) async throws -> Int { throw CancellationError() }
        func startCompression(after reply: ByteBuffer) async throws -> Int { throw CancellationError() }
    }

    let input: AsyncStream<ByteBuffer>.Continuation
    private var output: AsyncStream<ByteBuffer>.AsyncIterator
    private var received: [UInt8] = []
    let session: Task<Void, Error>
    var banner: [String] = []

    init(connection: SyncServerConnection) {
        let (inputStream, inputContinuation) = AsyncStream<ByteBuffer>.makeStream()
        let (outputStream, outputContinuation) = AsyncStream<ByteBuffer>.makeStream()
        input = inputContinuation
        output = outputStream.makeAsyncIterator()
        session = Task {
            defer { outputContinuation.finish() }
            try await connection.run(
                peer: "test",
                input: inputStream,
                transport: Transport(sink: outputContinuation),
                tlsActive: false
            )
        }
    }

    func send(_ bytes: [UInt8]) { input.yield(ByteBuffer(bytes: bytes)) }
    func send(_ text: String) { send(Array(text.utf8)) }
    func close() { input.finish() }

    struct Closed: Error {}
    struct TimedOut: Error {}
    static let lineTimeout: Duration = .seconds(20)

    func readLine() async throws -> String {
        try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask { try await self.readLineUnbounded() }
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
            guard let chunk = await output.next() else { throw Closed() }
            received += chunk.readableBytesView
        }
    }

    func readUntil(_ last: (String) -> Bool) async throws -> [String] {
        var lines: [String] = []
        while true {
            let line = try await readLine()
            lines.append(line)
            if last(line) { return lines }
        }
    }

    /// Reads one response: `* ` data lines, then the status line (returned last).
    func readResponse() async throws -> [String] {
        try await readUntil { !$0.hasPrefix("* ") }
    }

    /// Sends a command line (CRLF added) and reads its response.
    func command(_ line: String) async throws -> [String] {
        send(line + "\r\n")
        return try await readResponse()
    }

    /// Whether the server has closed the session.
    func isClosed() async throws -> Bool {
        do {
            _ = try await readLine()
            return false
        } catch is Closed {
            return true
        }
    }
}
