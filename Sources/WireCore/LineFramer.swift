import NIOCore

/// Splits a byte stream into CRLF- (or bare LF-) terminated lines, with a named length limit.
///
/// A line longer than ``maxLineLength`` is discarded as it arrives (so a hostile peer cannot
/// make us buffer it) and reported once, as ``Frame/tooLong``, when its end is finally seen;
/// framing then resumes cleanly at the next line.
public struct LineFramer: Sendable {
    /// One framing result.
    public enum Frame: Equatable, Sendable {
        /// A complete line without its terminator.
        case line(ByteBuffer)
        /// A line exceeded the limit and was dropped.
        case tooLong
    }

    /// Named limit: the longest line accepted, excluding the terminator.
    public let maxLineLength: Int
    private var discarding = false

    public init(maxLineLength: Int) {
        self.maxLineLength = maxLineLength
    }

    /// Takes the next complete line from `buffer`, or returns nil when more bytes are needed.
    /// Consumes only what it returns (or discards).
    public mutating func nextFrame(_ buffer: inout ByteBuffer) -> Frame? {
        while true {
            let searchLength = min(buffer.readableBytes, maxLineLength + 2)
            let newline = buffer.readableBytesView.prefix(searchLength).firstIndex(of: UInt8(ascii: "\n"))
            guard let newline else {
                if buffer.readableBytes > maxLineLength + 1 {
                    // Drop only the window searched (keeping its last byte, which may be the CR of
                    // a CRLF), then look further: later pipelined lines may follow in this buffer.
                    buffer.moveReaderIndex(forwardBy: searchLength - 1)
                    discarding = true
                    continue
                }
                return nil
            }
            let length = newline - buffer.readerIndex
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if discarding {
                discarding = false
                return .tooLong
            }
            if line.readableBytes > 0, line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                line.moveWriterIndex(to: line.writerIndex - 1)
            }
            if line.readableBytes > maxLineLength { return .tooLong }
            return .line(line)
        }
    }
}
