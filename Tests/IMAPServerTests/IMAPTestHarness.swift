import IMAPServer
import Logging
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import SessionTestSupport
import Synchronization

/// A real SQLite store and IMAP sessions over in-memory streams.
final class IMAPTestServer: Sendable {
    let temporary: TemporaryMailStore
    var store: SQLiteMailStore { temporary.store }
    let hub = MailboxChangeHub()
    let connection: IMAPConnection
    let feed: Task<Void, Never>

    struct Passwords: IMAPAuthenticator {
        func authenticate(user: String, password: String) async -> Bool { password == "secret-\(user)" }
    }

    init(
        configuration: IMAPConfiguration = IMAPConfiguration(
            admins: ["admin"],
            allowPlaintext: true,
            failedLoginDelay: 0.01
        )
    )
        async throws
    {
        temporary = try TemporaryMailStore(prefix: "corvid-imap")
        try await temporary.addUsers(["alice", "bob"])
        let hub = self.hub
        let notifications = temporary.store.changeNotifications()
        feed = Task { await hub.run(notifications) }
        connection = IMAPConnection(
            configuration: configuration,
            store: temporary.store,
            hub: hub,
            authenticator: Passwords(),
            clock: { 1_700_000_000 },
            logger: Logger(label: "test")
        )
    }

    deinit { feed.cancel() }

    /// Opens a session and reads the greeting.
    func connect() async throws -> IMAPTestClient {
        let client = IMAPTestClient(connection: connection)
        _ = try await client.readLine()
        return client
    }

    /// Opens a session logged in as `user`.
    func login(_ user: String) async throws -> IMAPTestClient {
        let client = try await connect()
        let reply = try await client.command("LOGIN \(user) secret-\(user)")
        precondition(reply.last!.contains("OK"), "login failed: \(reply)")
        return client
    }

    /// Delivers a message as LMTP would.
    func deliver(_ text: String, to user: String, flags: FlagSet = FlagSet()) async throws {
        try await temporary.deliver(text, to: user, flags: flags)
    }
}

/// The client side of one in-memory session.
final class IMAPTestClient: @unchecked Sendable {
    struct Transport: IMAPTransport {
        let sink: AsyncStream<ByteBuffer>.Continuation
        let input: AsyncStream<ByteBuffer>.Continuation
        func write(_ buffer: ByteBuffer) async throws { sink.yield(buffer) }
        func wake() { input.yield(ByteBuffer()) }
        func startTLS(after reply: ByteBuffer) async throws -> Int { throw CancellationError() }
        func startCompression(after reply: ByteBuffer) async throws -> Int { throw CancellationError() }
    }

    let client = InMemorySessionClient()
    private var tagCounter = 0
    let session: Task<Void, Error>

    init(connection: IMAPConnection) {
        let client = self.client
        session = Task {
            defer { client.sink.finish() }
            try await connection.run(
                peer: "test",
                input: client.inputStream,
                transport: Transport(sink: client.sink, input: client.input),
                tlsActive: false
            )
        }
    }

    func send(_ text: String) { client.send(text) }

    func close() { client.close() }

    typealias Closed = InMemorySessionClient.Closed

    /// The next CRLF-terminated line, literals included inline (`{n}\r\n` followed by n bytes);
    /// fails with a timeout if the server says nothing for the client's line timeout.
    func readLine() async throws -> String {
        var line = try await client.readLine()
        // A line ending in {n} continues with n literal bytes and the rest of the line.
        while let size = Self.literalSize(Array(line.utf8)) {
            let literal = try await client.readBytes(size)
            line += "\r\n" + String(decoding: literal, as: UTF8.self) + (try await client.readLine())
        }
        return line
    }

    static func literalSize(_ line: [UInt8]) -> Int? {
        guard line.last == UInt8(ascii: "}"), let open = line.lastIndex(of: UInt8(ascii: "{")) else { return nil }
        return Int(String(decoding: line[(open + 1)..<(line.count - 1)], as: UTF8.self))
    }

    /// Sends a tagged command and returns every line up to and including the tagged reply.
    @discardableResult
    func command(_ text: String) async throws -> [String] {
        tagCounter += 1
        let tag = "t\(tagCounter)"
        send("\(tag) \(text)\r\n")
        return try await readUntilTagged(tag)
    }

    func readUntilTagged(_ tag: String) async throws -> [String] {
        var lines: [String] = []
        while true {
            let line = try await readLine()
            lines.append(line)
            if line.hasPrefix(tag + " ") { return lines }
        }
    }

    /// The tag the next ``command(_:)`` will use.
    var nextTag: String { "t\(tagCounter + 1)" }

    /// Sends raw text and returns lines until one starts with `prefix`.
    func readUntil(prefix: String) async throws -> [String] {
        var lines: [String] = []
        while true {
            let line = try await readLine()
            lines.append(line)
            if line.hasPrefix(prefix) { return lines }
        }
    }
}
