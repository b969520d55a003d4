import CompressNIO
import NIOCore
import NIOPosix
import NIOSSL

@testable import CorvidRuntime

/// A one-connection loopback server whose connection is wrapped the way the runtime's listeners
/// wrap theirs (`NIOAsyncChannel<ByteBuffer, ByteBuffer>`).
struct LoopbackServer {
    typealias Handler =
        @Sendable (NIOAsyncChannelInboundStream<ByteBuffer>, NIOAsyncChannelOutboundWriter<ByteBuffer>, any Channel)
        async throws -> Void

    let listener: any Channel
    let task: Task<Void, any Error>
    let port: Int

    static func start(
        configure: @escaping @Sendable (any Channel) throws -> Void,
        handle: @escaping Handler
    ) async throws -> LoopbackServer {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configure(channel)
                    try ChannelUpgrade.addInboundByteCounter(to: channel)
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        let port = listener.channel.localAddress?.port ?? 0
        let task = Task {
            try await listener.executeThenClose { connections in
                for try await connection in connections {
                    try await connection.executeThenClose { inbound, outbound in
                        try await handle(inbound, outbound, connection.channel)
                    }
                    return
                }
            }
        }
        return LoopbackServer(listener: listener.channel, task: task, port: port)
    }

    /// Waits for the connection's handler and rethrows what it threw.
    func close() async throws {
        try await task.value
    }
}

/// The client end: plain reads and writes, and TLS started on demand like an IMAP client.
final class LoopbackClient {
    let channel: any Channel
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var buffered = ByteBuffer()

    private init(
        channel: any Channel,
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) {
        self.channel = channel
        self.iterator = inbound.makeAsyncIterator()
        self.outbound = outbound
    }

    static func run<Result>(port: Int, _ body: (LoopbackClient) async throws -> Result) async throws -> Result {
        let connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await connection.executeThenClose { inbound, outbound in
            try await body(LoopbackClient(channel: connection.channel, inbound: inbound, outbound: outbound))
        }
    }

    func write(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    func write(_ bytes: ByteBuffer) async throws {
        try await outbound.write(bytes)
    }

    /// The next chunk the socket delivers (after any line remainder already buffered).
    func readChunk() async throws -> ByteBuffer {
        if buffered.readableBytes > 0 {
            defer { buffered.clear() }
            return buffered
        }
        guard let chunk = try await iterator.next() else { throw ChannelError.eof }
        return chunk
    }

    func readLine() async throws -> String {
        while true {
            if let line = buffered.readLine() { return line }
            guard var chunk = try await iterator.next() else { throw ChannelError.eof }
            buffered.writeBuffer(&chunk)
        }
    }

    /// Starts TLS as a client that trusts only the certificate in `certificatePath`.
    func startTLS(trusting certificatePath: String, hostname: String) async throws {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(certificatePath)
        configuration.minimumTLSVersion = .tlsv12
        let context = try NIOSSLContext(configuration: configuration)
        let channel = self.channel
        try await channel.eventLoop.submit {
            let handler = try NIOSSLClientHandler(context: context, serverHostname: hostname)
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        }.get()
    }
}

extension LoopbackClient {
    /// Deflates and inflates from now on, inside TLS when TLS is on, as a COMPRESS client does.
    func startCompression() async throws {
        let channel = self.channel
        try await channel.eventLoop.submit {
            let operations = channel.pipeline.syncOperations
            let handlers: [any ChannelHandler] = [try DeflateCompressor(), try DeflateDecompressor()]
            if let tls = try? operations.handler(type: NIOSSLClientHandler.self) {
                try operations.addHandlers(handlers, position: .after(tls))
            } else {
                try operations.addHandlers(handlers, position: .first)
            }
        }.get()
    }
}

/// Reads CRLF-terminated lines from an inbound stream, as a session's line framer would,
/// counting the bytes it takes from the stream.
struct LineReader {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var buffered = ByteBuffer()
    /// Bytes taken from the inbound stream so far.
    private(set) var received = 0

    init(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>) {
        iterator = inbound.makeAsyncIterator()
    }

    mutating func next() async throws -> String {
        while true {
            if let line = buffered.readLine() { return line }
            guard var chunk = try await iterator.next() else { throw ChannelError.eof }
            received += chunk.readableBytes
            buffered.writeBuffer(&chunk)
        }
    }

    /// Drops every byte that reached the session before an upgrade: the unread rest of the
    /// buffer, then whole chunks until `boundary` bytes have been taken from the stream, as a
    /// session must after STARTTLS or COMPRESS. Returns how many bytes were dropped.
    mutating func discard(through boundary: Int) async throws -> Int {
        var dropped = buffered.readableBytes
        buffered.clear()
        while received < boundary {
            guard let chunk = try await iterator.next() else { throw ChannelError.eof }
            received += chunk.readableBytes
            dropped += chunk.readableBytes
        }
        return dropped
    }
}

extension ByteBuffer {
    /// Reads one line including its CRLF, or nothing when no complete line is buffered.
    fileprivate mutating func readLine() -> String? {
        guard let newline = readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return readString(length: newline - readerIndex + 1)
    }
}

/// `count` copies of `byte` as one raw-deflate stream, sync-flushed: a few KiB that inflate to
/// `count` bytes (a decompression bomb, or a large compressible burst).
func deflatedRepeating(_ byte: UInt8, count: Int) throws -> ByteBuffer {
    let deflater = try ZlibCompressor(algorithm: .deflate)
    var plain = ByteBuffer(repeating: byte, count: count)
    var deflated = ByteBufferAllocator().buffer(capacity: deflater.maxSize(from: plain))
    try deflater.deflate(from: &plain, to: &deflated, flush: .sync)
    return deflated
}
