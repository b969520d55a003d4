import Logging
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Replication
import SessionTestSupport

/// A real SQLite store and replica-side csync sessions over in-memory streams.
final class SyncTestServer: Sendable {
    let temporary: TemporaryMailStore
    var store: SQLiteMailStore { temporary.store }
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
        temporary = try TemporaryMailStore(prefix: "corvid-sync")
        connection = SyncServerConnection(
            configuration: configuration,
            store: temporary.store,
            authenticator: Passwords(),
            logger: Logger(label: "test")
        )
    }

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

    let client = InMemorySessionClient()
    let session: Task<Void, Error>
    var banner: [String] = []

    init(connection: SyncServerConnection) {
        let client = self.client
        session = Task {
            defer { client.sink.finish() }
            try await connection.run(
                peer: "test",
                input: client.inputStream,
                transport: Transport(sink: client.sink),
                tlsActive: false
            )
        }
    }

    func send(_ bytes: [UInt8]) { client.send(bytes) }
    func send(_ text: String) { client.send(text) }
    func close() { client.close() }
    func readLine() async throws -> String { try await client.readLine() }
    func isClosed() async throws -> Bool { try await client.isClosed() }

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
}
