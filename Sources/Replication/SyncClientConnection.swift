import MailCore
import NIOCore
import SyncCodec

/// What the csync master needs from the connection beneath it (the runtime implements it over
/// a NIO channel, tests in memory against a ``SyncServerConnection``). Input arrives as the
/// byte chunks of the sequence handed to ``SyncClient/run(input:transport:work:progress:)``.
public protocol SyncClientTransport: Sendable {
    /// Writes bytes to the replica, in order.
    func write(_ buffer: ByteBuffer) async throws
    /// Whether ``startCompression()`` can work; if not, COMPRESS is never sent.
    var supportsCompression: Bool { get }
    /// Called after `OK DEFLATE active` was read and before anything else is written: from
    /// now on writes are deflated and input is inflated (raw DEFLATE, sync-protocol §1.8). The
    /// replica sends nothing until the next command, so no input can be caught in between.
    func startCompression() async throws
    /// Told `true` when the session starts waiting for the replica's next bytes and `false`
    /// when they came. The runtime fails a connection that keeps the session waiting longer
    /// than `sync_timeout` (as Cyrus's sync_client times out its reads), so a silent replica
    /// cannot hang the master; the default does nothing.
    func waitingForReplica(_ waiting: Bool)
}

extension SyncClientTransport {
    public func waitingForReplica(_ waiting: Bool) {}
}

/// Receives the file literals of a reply, one after the other. It cannot fail the read: the
/// reply is consumed whole either way, so the connection stays in step; a sink keeps its own
/// failure for after the reply.
protocol SyncFileSink: AnyObject {
    func start(_ file: FileLiteral) async
    func write(_ bytes: ByteBuffer) async
    func finish() async
}

/// Why a csync master session failed: a connection-level problem (the session cannot go on)
/// or a replica's refusal of one command.
public struct SyncClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Hashable, Sendable {
        /// The replica closed the connection (or never sent a banner).
        case connectionClosed
        /// The replica sent something a master cannot read here (or `* Fatal error`).
        case protocolViolation
        /// AUTHENTICATE was refused, or no usable mechanism was offered.
        case authenticationFailed
        /// COMPRESS was required (`-z`) and could not be used.
        case compressionUnavailable
        /// A GET or APPLY was answered with NO or BAD; see ``status``.
        case commandRefused
        /// The local store failed.
        case storeFailure
        /// The replica kept the master waiting longer than `sync_timeout` (a stalled link).
        case timedOut
    }

    public var code: Code
    /// What happened; never contains credentials.
    public var detail: String
    /// The replica's status line, for ``Code/commandRefused``.
    public var status: SyncStatus?

    public init(_ code: Code, _ detail: String, status: SyncStatus? = nil) {
        self.code = code
        self.detail = detail
        self.status = status
    }

    /// Whether the session can continue with another user after this error.
    public var isSessionFatal: Bool {
        switch code {
        case .connectionClosed, .protocolViolation, .authenticationFailed, .compressionUnavailable, .timedOut: true
        case .commandRefused, .storeFailure: false
        }
    }

    public var description: String { "\(code.rawValue): \(detail)" }
}

/// A replica's reply to one command: its data lines and the status line.
public struct SyncClientReply: Sendable {
    /// `* KEY value` lines, in order.
    public var data: [DList.Item]
    public var status: SyncStatus

    /// The values of the data lines with this key.
    public func values(_ key: String) -> [DList] { data.filter { $0.key == key }.map(\.value) }
}

/// The master's end of one csync connection (sync-protocol §1): reads the banner, sends one
/// command at a time and reads its reply. Confined to the task that runs the session.
final class SyncClientConnection<Input: AsyncSequence, Transport: SyncClientTransport>
where Input.Element == ByteBuffer {
    let transport: Transport
    private var iterator: Input.AsyncIterator
    private var decoder = SyncDecoder(role: .master)
    private var pending = ByteBuffer()
    private var events: [SyncDecoder.Event] = []
    /// Commands sent, by `VERB KEY` (e.g. `APPLY MAILBOX`), for the report and the tests.
    private(set) var commandCounts: [String: Int] = [:]
    /// Named limit: output buffered before it is written, mid-command.
    static var writeChunk: Int { 256 * 1024 }

    init(input: Input, transport: Transport) {
        self.iterator = input.makeAsyncIterator()
        self.transport = transport
    }

    /// Where the bytes of file literals in replies go (`GET FETCH`); nil skips them.
    private var fileSink: (any SyncFileSink)?

    /// The next response line; the bytes of file literals go to ``fileSink``.
    private func nextResponse() async throws -> SyncResponse {
        while true {
            while !events.isEmpty {
                switch events.removeFirst() {
                case .responseReceived(let response):
                    return response
                case .errorDetected(let error):
                    throw SyncClientError(.protocolViolation, "unreadable reply: \(error)")
                case .fileLiteralStarted(let file):
                    await fileSink?.start(file)
                case .fileLiteralBytesReceived(let bytes):
                    await fileSink?.write(bytes)
                case .fileLiteralFinished:
                    await fileSink?.finish()
                case .commandReceived, .saslResponseReceived, .continuationRequested:
                    continue
                }
            }
            transport.waitingForReplica(true)
            let next: ByteBuffer?
            do {
                next = try await iterator.next()
            } catch let error as SyncClientError {
                throw error
            } catch {
                throw SyncClientError(.connectionClosed, "reading from the replica: \(error)")
            }
            transport.waitingForReplica(false)
            guard var chunk = next else {
                throw SyncClientError(.connectionClosed, "the replica closed the connection")
            }
            pending.writeBuffer(&chunk)
            events = decoder.decode(&pending)
            pending.discardReadBytes()
        }
    }

    /// Reads the banner through `* OK` (§1.3): the capabilities by name, with their parameters.
    func readBanner() async throws -> [String: [String]] {
        var capabilities: [String: [String]] = [:]
        while true {
            switch try await nextResponse() {
            case .capability(let name, let parameters): capabilities[name.uppercased()] = parameters
            case .greeting: return capabilities
            case .status(let status) where status.kind == .bye:
                throw SyncClientError(.connectionClosed, "the replica said BYE: \(status.text)")
            case let other: throw SyncClientError(.protocolViolation, "unexpected banner line \(other)")
            }
        }
    }

    /// Sends a command and reads its reply. Data lines of a reply to a command that expects
    /// none are still collected; `* Fatal error` and a closed connection throw.
    func send(_ command: SyncCommand) async throws -> SyncClientReply {
        commandCounts[Self.label(command), default: 0] += 1
        var out = ByteBuffer()
        command.write(into: &out)
        try await transport.write(out)
        return try await readReply()
    }

    /// `APPLY MESSAGE (%{partition guid size}CRLF<bytes> …)` (§3.4.2): the files are written one
    /// after the other as `body` returns them, never all held at once.
    func sendMessages(
        _ files: [(partition: String, guid: MessageGUID)],
        body: (MessageGUID) async throws -> ByteBuffer
    ) async throws -> (reply: SyncClientReply, bytes: Int) {
        commandCounts["APPLY MESSAGE", default: 0] += 1
        var out = ByteBuffer()
        out.writeString("APPLY MESSAGE (")
        var total = 0
        for (index, file) in files.enumerated() {
            var bytes = try await body(file.guid)
            total += bytes.readableBytes
            if index > 0 { out.writeString(" ") }
            let header = FileLiteral(partition: file.partition, guid: file.guid, size: UInt32(bytes.readableBytes))
            DList.file(header).write(into: &out, literals: .nonSynchronizing) { _ in [] }
            if out.readableBytes + bytes.readableBytes > Self.writeChunk {
                try await transport.write(out)
                out = ByteBuffer()
                try await transport.write(bytes)
            } else {
                out.writeBuffer(&bytes)
            }
        }
        out.writeString(")\r\n")
        try await transport.write(out)
        return (try await readReply(), total)
    }

    /// Sends a command whose reply carries file literals (`GET FETCH`, §3.3.6); their bytes
    /// are handed to `sink` as they arrive, never held whole.
    func send(_ command: SyncCommand, files sink: any SyncFileSink) async throws -> SyncClientReply {
        fileSink = sink
        defer { fileSink = nil }
        return try await send(command)
    }

    private func readReply() async throws -> SyncClientReply {
        var data: [DList.Item] = []
        while true {
            switch try await nextResponse() {
            case .data(let item): data.append(item)
            case .status(let status): return SyncClientReply(data: data, status: status)
            case .fatalError(let text): throw SyncClientError(.connectionClosed, "replica fatal error: \(text)")
            case let other: throw SyncClientError(.protocolViolation, "unexpected reply line \(other)")
            }
        }
    }

    /// `AUTHENTICATE PLAIN <base64(NUL authcid NUL password)>` (§1.6), authzid empty as
    /// sync_client sends it. The password is never logged or put into an error.
    func authenticate(user: String, password: String) async throws {
        let message = [0] + Array(user.utf8) + [0] + Array(password.utf8)
        let reply = try await send(.authenticate(mechanism: "PLAIN", initialResponse: Base64.encode(message)))
        guard reply.status.kind == .ok else {
            throw SyncClientError(
                .authenticationFailed,
                "AUTHENTICATE PLAIN as \(user): \(reply.status.kind.rawValue) \(reply.status.text)"
            )
        }
    }

    /// `COMPRESS DEFLATE` (§1.8): on `OK` the transport switches both directions.
    func compress() async throws -> Bool {
        decoder.pauseAfterNextStatus()
        let reply = try await send(.compress(algorithm: "DEFLATE"))
        guard reply.status.kind == .ok else {
            decoder.resume()
            return false
        }
        guard pending.readableBytes == 0, events.isEmpty else {
            throw SyncClientError(.protocolViolation, "the replica sent bytes after OK DEFLATE active")
        }
        try await transport.startCompression()
        decoder.resume()
        return true
    }

    private static func label(_ command: SyncCommand) -> String {
        switch command {
        case .get(let item): "GET \(item.key)"
        case .apply(let item): "APPLY \(item.key)"
        case .restore(let item): "RESTORE \(item.key)"
        default: command.verb
        }
    }
}
