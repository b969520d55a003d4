import Logging
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import POP3Server
import SessionTestSupport
import Synchronization

/// A real SQLite store and POP3 sessions over in-memory streams, with a clock the test moves.
final class POP3TestServer: Sendable {
    let temporary: TemporaryMailStore
    var store: SQLiteMailStore { temporary.store }
    let connection: POP3Connection
    let clock = TestClock()

    struct Passwords: POP3Authenticator {
        func authenticate(user: String, password: String) async -> Bool { password == "secret-\(user)" }
    }

    init(
        configuration: POP3Configuration = POP3Configuration(allowPlaintext: true, failedLoginDelay: 0.01)
    )
        async throws
    {
        temporary = try TemporaryMailStore(prefix: "corvid-pop3")
        try await temporary.addUsers(["alice", "bob"])
        let clock = self.clock
        connection = POP3Connection(
            configuration: configuration,
            store: temporary.store,
            authenticator: Passwords(),
            clock: { clock.now },
            logger: Logger(label: "test")
        )
    }

    func advanceClock(by seconds: UnixTime) { clock.advance(by: seconds) }

    /// Opens a session and reads the greeting.
    func connect() async throws -> POP3TestClient {
        let client = POP3TestClient(connection: connection)
        _ = try await client.readLine()
        return client
    }

    /// Opens a session logged in as `user` with USER/PASS.
    func login(_ user: String) async throws -> POP3TestClient {
        let client = try await connect()
        _ = try await client.command("USER \(user)")
        let reply = try await client.command("PASS secret-\(user)")
        precondition(reply.hasPrefix("+OK"), "login failed: \(reply)")
        return client
    }

    /// Delivers a message as LMTP would; returns its UID.
    @discardableResult
    func deliver(_ text: String, to user: String = "alice", flags: FlagSet = FlagSet()) async throws -> UID {
        try await temporary.deliver(text, to: user, flags: flags)
    }

    func inbox(_ user: String = "alice") async throws -> [MessageRecord] {
        try await store.records(in: .inbox(of: try UserName(user)), includeExpunged: false)
    }
}

/// A clock the test moves by hand.
final class TestClock: Sendable {
    private let value = Mutex<UnixTime>(1_700_000_000)
    var now: UnixTime { value.withLock { $0 } }
    func advance(by seconds: UnixTime) { value.withLock { $0 += seconds } }
}

/// The client side of one in-memory session.
final class POP3TestClient: @unchecked Sendable {
    struct Transport: POP3Transport {
        let sink: AsyncStream<ByteBuffer>.Continuation
        func write(_ buffer: ByteBuffer) async throws { sink.yield(buffer) }
        func startTLS(after reply: ByteBuffer) async throws -> Int { throw CancellationError() }
    }

    let client = InMemorySessionClient()
    let session: Task<Void, Error>

    init(connection: POP3Connection) {
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

    func send(_ text: String) { client.send(text) }

    /// Sends the bytes one at a time (byte-at-a-time decoding).
    func sendByteByByte(_ text: String) {
        for byte in text.utf8 { client.send([byte]) }
    }

    /// Ends the input, as a client that drops the connection.
    func close() { client.close() }

    func readLine() async throws -> String { try await client.readLine() }
    func isClosed() async throws -> Bool { try await client.isClosed() }

    /// Sends a command and returns its status line.
    func command(_ line: String) async throws -> String {
        send(line + "\r\n")
        return try await readLine()
    }

    /// Sends a command with a multi-line answer: its status line and, after +OK, the lines
    /// up to the terminating "." with dot-stuffing removed.
    func multiline(_ line: String) async throws -> (status: String, lines: [String]) {
        send(line + "\r\n")
        return try await readMultiline()
    }

    func readMultiline() async throws -> (status: String, lines: [String]) {
        let status = try await readLine()
        guard status.hasPrefix("+OK") else { return (status, []) }
        var lines: [String] = []
        while true {
            let line = try await readLine()
            if line == "." { return (status, lines) }
            lines.append(line.hasPrefix(".") ? String(line.dropFirst()) : line)
        }
    }
}
