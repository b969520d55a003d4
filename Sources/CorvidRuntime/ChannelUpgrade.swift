import NIOCore
import NIOSSL

/// In-place upgrades of a live connection: STARTTLS (RFC 9051 §6.2.1, RFC 2595) and
/// COMPRESS=DEFLATE (RFC 4978).
///
/// Both work on a channel that is already wrapped by `NIOAsyncChannel<ByteBuffer, ByteBuffer>`:
/// the session keeps reading and writing through the same async streams, and the new handlers sit
/// between them and the socket. Each upgrade is one event-loop task that writes and flushes the
/// last unprotected reply and then inserts the handlers, so no byte read from the socket after
/// that reply can reach the session without passing through them.
///
/// ```
/// C: a STARTTLS
/// S: a OK Begin TLS negotiation now        ← written by startTLS, in plaintext
/// <TLS handshake>
/// C: b CAPABILITY                           ← decrypted by NIOSSLServerHandler
/// ```
///
/// - Important: Bytes the client sent after the command, before the upgrade, arrived unprotected
///   and must never be taken as commands of the protected session (the STARTTLS
///   command-injection class, CVE-2011-0411). Some may sit in the session's own line buffer, and
///   some in the `NIOAsyncChannel` inbound buffer, where they look like any later chunk. So the
///   pipeline carries an ``InboundByteCounter`` (added with ``addInboundByteCounter(to:)`` when the
///   connection is set up) and each upgrade returns the number of bytes handed to the session
///   before the new layer was in place. The session counts the bytes it takes from the inbound
///   stream, and after the upgrade drops its buffer and then whole chunks until its count reaches
///   the returned number; only later bytes are protected. Any dropped byte is a client protocol
///   error (the client must wait for the reply before sending more).
///   The caller must also have awaited its earlier writes, so the reply is not overtaken.
package enum ChannelUpgrade {
    /// Writes `reply` in plaintext, then puts TLS in front of everything else in the pipeline.
    ///
    /// Returns once the reply is flushed to the socket, with the number of inbound bytes handed
    /// to the session before TLS was in place (see the type's discussion). The handshake then
    /// runs as the client starts it; a failed handshake surfaces as an error on the inbound
    /// stream. Throws ``ChannelUpgradeError`` before writing anything when TLS is already active,
    /// when COMPRESS is (TLS must be the outer layer), or when the pipeline has no counter.
    package static func startTLS(
        on channel: any Channel,
        context: NIOSSLContext,
        sendingFirst reply: ByteBuffer
    ) async throws -> Int {
        try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<Int> in
            let operations = channel.pipeline.syncOperations
            if (try? operations.context(handlerType: NIOSSLServerHandler.self)) != nil {
                return channel.eventLoop.makeFailedFuture(ChannelUpgradeError.tlsAlreadyActive)
            }
            if (try? operations.context(handlerType: DeflateCompressor.self)) != nil {
                return channel.eventLoop.makeFailedFuture(ChannelUpgradeError.compressionActive)
            }
            guard let counter = try? operations.handler(type: InboundByteCounter.self) else {
                return channel.eventLoop.makeFailedFuture(ChannelUpgradeError.byteCounterMissing)
            }
            let boundary = counter.count
            let tls = NIOSSLServerHandler(context: context)
            let written = channel.eventLoop.makePromise(of: Void.self)
            operations.writeAndFlush(NIOAny(reply), promise: written)
            // The reply has passed every handler and sits in the socket's queue, so the TLS
            // handler placed now does not touch it; every later read and write goes through TLS.
            do {
                try operations.addHandler(tls, position: .first)
            } catch {
                // The client was told to start TLS and we cannot: the connection is unusable.
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
            return written.futureResult.map { boundary }
        }.get()
    }

    /// Writes `reply` uncompressed, then adds the DEFLATE pair right after TLS (or at the front).
    ///
    /// After this, every write is deflated and sync-flushed on flush, and every read inflated
    /// (see ``DeflateCompressor`` and ``DeflateDecompressor``, which also bounds how much one read
    /// may inflate to). Throws ``CompressionError`` with code `alreadyActive` when the channel is
    /// already compressed (the server answers `NO [COMPRESSIONACTIVE]`, RFC 4978), and
    /// ``ChannelUpgradeError/byteCounterMissing`` without a counter. Returns the number of inbound
    /// bytes handed to the session before decompression was in place.
    package static func startCompression(
        on channel: any Channel,
        sendingFirst reply: ByteBuffer
    ) async throws -> Int {
        try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<Int> in
            let operations = channel.pipeline.syncOperations
            if (try? operations.context(handlerType: DeflateCompressor.self)) != nil {
                return channel.eventLoop.makeFailedFuture(
                    CompressionError(.alreadyActive, "the connection is already compressed")
                )
            }
            guard let counter = try? operations.handler(type: InboundByteCounter.self) else {
                return channel.eventLoop.makeFailedFuture(ChannelUpgradeError.byteCounterMissing)
            }
            let boundary = counter.count
            let handlers: [any ChannelHandler]
            do {
                handlers = [try DeflateCompressor(), try DeflateDecompressor()]
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
            let written = channel.eventLoop.makePromise(of: Void.self)
            operations.writeAndFlush(NIOAny(reply), promise: written)
            do {
                if let tls = try? operations.handler(type: NIOSSLServerHandler.self) {
                    try operations.addHandlers(handlers, position: .after(tls))
                } else {
                    try operations.addHandlers(handlers, position: .first)
                }
            } catch {
                channel.close(promise: nil)
                return channel.eventLoop.makeFailedFuture(error)
            }
            return written.futureResult.map { boundary }
        }.get()
    }

    /// The client's side of COMPRESS (csync `COMPRESS DEFLATE`, sync-protocol §1.8): adds the
    /// DEFLATE pair at the front of the pipeline once the server's `OK` has been read.
    ///
    /// The server sends nothing more until the client's next command, so no input byte can be
    /// read uncompressed after this; the caller must not have written anything since the
    /// command. Throws ``CompressionError`` with code `alreadyActive` when already compressed.
    package static func startClientCompression(on channel: any Channel) async throws {
        try await channel.eventLoop.submit {
            let operations = channel.pipeline.syncOperations
            if (try? operations.context(handlerType: DeflateCompressor.self)) != nil {
                throw CompressionError(.alreadyActive, "the connection is already compressed")
            }
            // Level 1: measured on a 20,000-message initial sync, level 6 kept the master's one
            // connection at 100% of a core inside zlib while the replica waited.
            try operations.addHandlers(
                [try DeflateCompressor(level: .fastestCompression), try DeflateDecompressor()],
                position: .first
            )
        }.get()
    }

    /// Adds the ``InboundByteCounter`` the upgrades need, at the back of the pipeline.
    ///
    /// Call it on the event loop, in the child channel initializer, after any other handler
    /// and just before wrapping the channel in `NIOAsyncChannel`, so it counts exactly the
    /// bytes the session receives.
    package static func addInboundByteCounter(to channel: any Channel) throws {
        try channel.pipeline.syncOperations.addHandler(InboundByteCounter(), position: .last)
    }

    /// Hands the session an empty inbound chunk, as if read after everything already read: how
    /// an IMAP session waiting for input learns that its mailbox changed (`IMAPTransport.wake`).
    ///
    /// The chunk starts at the ``InboundByteCounter``, so it passes no other handler: it does not
    /// count as client activity for the idle timeout, TLS and DEFLATE never see it, and it adds
    /// nothing to the byte count the upgrades report. Callable from any thread; does nothing
    /// once the pipeline is gone.
    package static func wakeSession(on channel: any Channel) {
        channel.eventLoop.execute {
            guard let context = try? channel.pipeline.syncOperations.context(handlerType: InboundByteCounter.self)
            else { return }
            context.fireChannelRead(NIOAny(ByteBuffer()))
            context.fireChannelReadComplete()
        }
    }

    /// Puts TLS at the front of a new connection's pipeline, for implicit-TLS listeners
    /// (`imaps_listen`, `pop3s_listen`, RFC 8314 §3.3).
    ///
    /// Call it on the event loop, in the child channel initializer, before wrapping the channel
    /// in `NIOAsyncChannel`.
    package static func addImplicitTLS(to channel: any Channel, context: NIOSSLContext) throws {
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context), position: .first)
    }

    /// Whether the channel's pipeline holds TLS (for CAPABILITY: STARTTLS vs LOGINDISABLED).
    package static func isTLSActive(on channel: any Channel) async -> Bool {
        (try? await channel.eventLoop.submit {
            (try? channel.pipeline.syncOperations.context(handlerType: NIOSSLServerHandler.self)) != nil
        }.get()) ?? false
    }
}

/// Why an upgrade was refused; nothing was written.
package enum ChannelUpgradeError: Error, Equatable {
    /// STARTTLS on a connection that already has TLS (RFC 9051 §6.2.1: answer BAD).
    case tlsAlreadyActive
    /// STARTTLS after COMPRESS: TLS would end up inside compression, the wrong order.
    case compressionActive
    /// The pipeline has no ``InboundByteCounter``: a programming error in the listener's setup.
    case byteCounterMissing
}

/// Counts the inbound bytes passed to the session, so an upgrade can tell where the protected
/// stream begins. Sits last in the pipeline, just before `NIOAsyncChannel`'s handler.
final class InboundByteCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// Bytes passed on so far.
    private(set) var count = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }
}
