import NIOCore

/// Decodes the DATA body of RFC 5321 §4.5.2: removes the leading dot of stuffed lines and
/// finds the end-of-data line (`.` alone), across arbitrary read boundaries.
///
/// Lines may end in CRLF or (tolerated) bare LF; line endings are passed through unchanged.
public struct DotUnstuffer: Sendable {
    private enum State: Sendable {
        case lineStart
        case middle
        case middleAfterCR
        case dotAtLineStart
        case dotCRAtLineStart
        case finished
    }

    private var state: State = .lineStart

    public init() {}

    /// Whether the end-of-data line has been seen.
    public var isFinished: Bool { if case .finished = state { true } else { false } }

    /// Consumes bytes from `input` up to and including the end-of-data line, returning the
    /// decoded message bytes. Bytes after the end-of-data line stay in `input` (pipelined
    /// commands that follow).
    public mutating func decode(
        _ input: inout ByteBuffer,
        allocator: ByteBufferAllocator = ByteBufferAllocator()
    ) -> ByteBuffer {
        var output = allocator.buffer(capacity: input.readableBytes)
        var consumed = 0
        input.withUnsafeReadableBytes { bytes in
            var spanStart = 0
            var index = 0
            func flush(upTo end: Int) {
                if end > spanStart {
                    output.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[spanStart..<end]))
                }
            }
            loop: while index < bytes.count {
                let c = bytes[index]
                switch state {
                case .finished:
                    break loop
                case .lineStart:
                    if c == UInt8(ascii: ".") {
                        flush(upTo: index)
                        spanStart = index + 1
                        state = .dotAtLineStart
                    } else {
                        state =
                            c == UInt8(ascii: "\r") ? .middleAfterCR : (c == UInt8(ascii: "\n") ? .lineStart : .middle)
                    }
                    index += 1
                case .middle:
                    // Fast path: run to the next CR or LF.
                    while index < bytes.count, bytes[index] != UInt8(ascii: "\r"), bytes[index] != UInt8(ascii: "\n") {
                        index += 1
                    }
                    guard index < bytes.count else { break }
                    state = bytes[index] == UInt8(ascii: "\r") ? .middleAfterCR : .lineStart
                    index += 1
                case .middleAfterCR:
                    state = c == UInt8(ascii: "\n") ? .lineStart : (c == UInt8(ascii: "\r") ? .middleAfterCR : .middle)
                    index += 1
                case .dotAtLineStart:
                    if c == UInt8(ascii: "\r") {
                        // Hold the CR back: it is part of the terminator if LF follows.
                        flush(upTo: index)
                        index += 1
                        spanStart = index
                        state = .dotCRAtLineStart
                    } else if c == UInt8(ascii: "\n") {
                        index += 1
                        spanStart = index
                        state = .finished
                    } else {
                        // A stuffed line: the dot is dropped and the rest passes through.
                        state = .middle
                    }
                case .dotCRAtLineStart:
                    if c == UInt8(ascii: "\n") {
                        index += 1
                        spanStart = index
                        state = .finished
                    } else {
                        // ".\r" not followed by LF: keep the CR (the dot was stuffing).
                        output.writeInteger(UInt8(ascii: "\r"))
                        state = .middle
                    }
                }
            }
            if case .finished = state {
                consumed = index
            } else {
                // A pending "." or ".\r" at line start is held in `state`, not in the output.
                flush(upTo: index)
                consumed = index
            }
        }
        input.moveReaderIndex(forwardBy: consumed)
        return output
    }
}

/// Encodes a message for DATA (client side): stuffs lines that begin with a dot and appends
/// the end-of-data line. The message must use CRLF line endings.
public enum DotStuffer {
    public static func encode(_ message: [UInt8], into buffer: inout ByteBuffer) {
        var atLineStart = true
        for byte in message {
            if atLineStart && byte == UInt8(ascii: ".") { buffer.writeInteger(UInt8(ascii: ".")) }
            buffer.writeInteger(byte)
            atLineStart = byte == UInt8(ascii: "\n")
        }
        if !atLineStart { buffer.writeString("\r\n") }
        buffer.writeString(".\r\n")
    }
}
