import CompressNIO
import NIOCore

/// The outbound half of RFC 4978 COMPRESS=DEFLATE: raw deflate (no zlib header or checksum).
///
/// A write is deflated at once with `Z_NO_FLUSH`; a flush ends with `Z_SYNC_FLUSH`, so everything
/// written before the flush is decodable by the client as soon as it arrives: a response is
/// never held back in the compressor while the client waits for it. `NIOAsyncChannel` flushes
/// after each write, so every response the session writes is sync-flushed. The write promises
/// of the deflated bytes complete with the flush that carries them out.
final class DeflateCompressor: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let deflater: ZlibCompressor
    /// Input has been deflated since the last sync flush.
    private var unflushed = false
    /// Completes when the bytes written since the last flush are written out.
    private var pendingPromise: EventLoopPromise<Void>?

    /// `level`: zlib's default for sessions (as Cyrus and Dovecot); the csync master uses the
    /// fastest level, since a bulk replication stream is otherwise bound by one core deflating.
    init(level: ZlibConfiguration.CompressionLevel = .defaultCompressionLevel) throws {
        // Window 2^15 (RFC 1951's maximum, so any client's inflater with the default window
        // decodes it).
        deflater = try ZlibCompressor(
            algorithm: .deflate,
            configuration: ZlibConfiguration(windowSize: .window128k, compressionLevel: level)
        )
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var input = unwrapOutboundIn(data)
        if let promise {
            if let pendingPromise { pendingPromise.futureResult.cascade(to: promise) } else { pendingPromise = promise }
        }
        guard input.readableBytes > 0 else { return }
        do {
            let output = try deflate(&input, flush: .no, allocator: context.channel.allocator)
            unflushed = true
            if output.readableBytes > 0 { context.write(wrapOutboundOut(output), promise: nil) }
        } catch {
            fail(context: context, error)
        }
    }

    func flush(context: ChannelHandlerContext) {
        if unflushed {
            var empty = context.channel.allocator.buffer(capacity: 16)
            do {
                let output = try deflate(&empty, flush: .sync, allocator: context.channel.allocator)
                unflushed = false
                context.write(wrapOutboundOut(output), promise: takePendingPromise())
            } catch {
                fail(context: context, error)
                return
            }
        } else if let promise = takePendingPromise() {
            // Only empty writes since the last flush: nothing to send, but keep their order.
            context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
        }
        context.flush()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        takePendingPromise()?.fail(ChannelError.ioOnClosedChannel)
    }

    private func takePendingPromise() -> EventLoopPromise<Void>? {
        defer { pendingPromise = nil }
        return pendingPromise
    }

    private func fail(context: ChannelHandlerContext, _ error: any Error) {
        let failure = CompressionError(.compressFailed, "\(error)")
        takePendingPromise()?.fail(failure)
        context.fireErrorCaught(failure)
        context.close(promise: nil)
    }

    /// Deflates all of `input`, growing the output until zlib has emitted everything `flush` asks.
    private func deflate(
        _ input: inout ByteBuffer,
        flush: CompressNIOFlush,
        allocator: ByteBufferAllocator
    ) throws -> ByteBuffer {
        var output = allocator.buffer(capacity: deflater.maxSize(from: input))
        while true {
            if output.writableBytes < 64 { output.reserveCapacity(minimumWritableBytes: max(output.capacity, 4096)) }
            do {
                try deflater.deflate(from: &input, to: &output, flush: flush)
            } catch let error as CompressNIOError where error == .bufferOverflow && input.readableBytes == 0 {
                // Z_BUF_ERROR: no progress possible, so nothing is left to emit.
                return output
            }
            // zlib is done when it left output space unused and consumed all input.
            if input.readableBytes == 0 && output.writableBytes > 0 { return output }
        }
    }
}

/// The inbound half of RFC 4978 COMPRESS=DEFLATE, bounded against decompression bombs.
///
/// Deflate expands up to about 1000:1, so one small read could otherwise become gigabytes in
/// memory. Inflated bytes are passed on in slices of at most ``sliceSize``, and at most
/// ``maxInflatedBytesPerRead`` per read event; compressed input beyond that waits until the next
/// handler asks for more with `read()` (which `NIOAsyncChannel` does only when its buffer has
/// room), so a bomb is delivered slowly instead of all at once, and memory stays bounded.
/// Corrupt input, or bytes after the end of the deflate stream, fire ``CompressionError`` and
/// close the connection.
final class DeflateDecompressor: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Largest inflated buffer passed on in one `channelRead`.
    static let sliceSize = 64 * 1024
    /// Inflated bytes passed on per read event before waiting for the next `read()`.
    static let maxInflatedBytesPerRead = 1024 * 1024

    private let inflater: ZlibDecompressor
    /// Compressed bytes not yet inflated.
    private var pending: ByteBuffer?
    /// zlib filled the last output slice, so it may hold more output even without input.
    private var mayHaveOutput = false
    /// Re-entrancy guard: a `read()` that arrives while inflating is served afterwards.
    private var busy = false
    private var readRequested = false
    private var failed = false

    init() throws {
        inflater = try ZlibDecompressor(algorithm: .deflate, windowSize: 15)
    }

    /// Whether inflated output is still owed to the next handler.
    private var hasMore: Bool { !failed && ((pending?.readableBytes ?? 0) > 0 || mayHaveOutput) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        var input = unwrapInboundIn(data)
        if var buffered = pending, buffered.readableBytes > 0 {
            buffered.writeBuffer(&input)
            pending = buffered
        } else {
            pending = input
        }
        busy = true
        inflateSome(context: context, limit: Self.maxInflatedBytesPerRead)
        busy = false
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.fireChannelReadComplete()
        // A read() that arrived while this read event was being inflated is served now, so a
        // next handler that asks only once (NIOAsyncChannel) is not left waiting.
        if readRequested && !busy {
            readRequested = false
            read(context: context)
        }
    }

    func read(context: ChannelHandlerContext) {
        guard hasMore else {
            context.read()
            return
        }
        // Serve output still owed instead of reading the socket. A read() from the next handler
        // while we deliver is only noted, so delivery loops here rather than recursing.
        guard !busy else {
            readRequested = true
            return
        }
        busy = true
        repeat {
            readRequested = false
            inflateSome(context: context, limit: Self.maxInflatedBytesPerRead)
            context.fireChannelReadComplete()
            if !readRequested {
                // What the socket channel does after each read cycle: a read from the tail of
                // the pipeline. A next handler with room passes it down to us (noted, served
                // by this loop); one that is full (NIOAsyncChannel) holds it and passes it on
                // once drained. Without it, a full NIOAsyncChannel would drain and never ask
                // again, and the rest of the input would wait forever.
                context.channel.read()
            }
        } while readRequested && hasMore
        busy = false
        if readRequested {
            readRequested = false
            context.read()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed, hasMore {
            // The peer sent its last bytes: hand all of them on before saying so. The input
            // is bounded by what the socket already read.
            inflateSome(context: context, limit: .max)
            context.fireChannelReadComplete()
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func inflateSome(context: ChannelHandlerContext, limit: Int) {
        var produced = 0
        while produced < limit, var input = pending, input.readableBytes > 0 || mayHaveOutput {
            var output = context.channel.allocator.buffer(capacity: Self.sliceSize)
            let before = input.readableBytes
            do {
                try inflater.inflate(from: &input, to: &output)
                mayHaveOutput = false
            } catch let error as CompressNIOError where error == .bufferOverflow {
                mayHaveOutput = true
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                mayHaveOutput = false
            } catch {
                fail(context: context, CompressionError(.corruptInput, "\(error)"))
                return
            }
            pending = input
            if output.readableBytes == 0 && input.readableBytes == before {
                // No progress. With input left, the stream has ended (a final block) and the
                // peer sent more: RFC 4978 has no way to end compression, so that is an error.
                if input.readableBytes > 0 {
                    fail(context: context, CompressionError(.corruptInput, "data after the end of the deflate stream"))
                }
                mayHaveOutput = false
                return
            }
            produced += output.readableBytes
            if output.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(output)) }
        }
    }

    private func fail(context: ChannelHandlerContext, _ error: CompressionError) {
        failed = true
        pending = nil
        mayHaveOutput = false
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }
}

/// A failure of the COMPRESS=DEFLATE layer; the connection is closed when it happens.
package struct CompressionError: Error, Equatable, CustomStringConvertible {
    /// A stable code for the kind of failure.
    package struct Code: Equatable, Sendable, CustomStringConvertible {
        private enum Base: String, Equatable, Sendable {
            case corruptInput, compressFailed, alreadyActive
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The peer's compressed stream cannot be inflated.
        package static let corruptInput = Code(.corruptInput)
        /// zlib failed while compressing our output.
        package static let compressFailed = Code(.compressFailed)
        /// COMPRESS was asked for on a connection that is already compressed (RFC 4978).
        package static let alreadyActive = Code(.alreadyActive)

        package var description: String { base.rawValue }
    }

    package var code: Code
    package var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "compression error (\(code)): \(message)" }
}
