import NIOCore

/// Writes a message as the body of a multi-line response (RFC 1939 §3): lines that start
/// with "." get another ".", bare LF becomes CRLF, a last line without CRLF gets one, and
/// `finish` writes the terminating ".\r\n". For TOP (RFC 1939 §7) it stops after the header,
/// the blank line and `bodyLines` lines of the body.
///
/// Streaming: `encode` may be called with consecutive chunks of the message, so a large
/// message is written out piece by piece instead of being copied whole.
public struct POP3MessageEncoder: Sendable {
    private var atLineStart = true
    private var previousWasCR = false
    /// Nil while in the header; then the body lines still to send (nil limit = all).
    private var bodyLinesLeft: Int?
    private var inHeader = true
    private let bodyLineLimit: Int?
    private var done = false

    /// `bodyLines`: TOP's line count; nil sends the whole message (RETR).
    public init(bodyLines: Int? = nil) {
        bodyLineLimit = bodyLines
    }

    /// Whether TOP's limit has been reached (the rest of the message may be skipped).
    public var isComplete: Bool { done }

    public mutating func encode(_ chunk: ByteBuffer, into out: inout ByteBuffer) {
        guard !done else { return }
        out.reserveCapacity(minimumWritableBytes: chunk.readableBytes + chunk.readableBytes / 64 + 8)
        chunk.withUnsafeReadableBytes { bytes in
            var spanStart = 0
            var index = 0
            let count = bytes.count
            func flush(_ end: Int) {
                if end > spanStart { out.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[spanStart..<end])) }
            }
            while index < count {
                let byte = bytes[index]
                if atLineStart {
                    atLineStart = false
                    if byte == UInt8(ascii: ".") {
                        flush(index)
                        out.writeInteger(UInt8(ascii: "."))
                        spanStart = index
                    }
                }
                if byte == UInt8(ascii: "\n") {
                    if !previousWasCR {
                        flush(index)
                        out.writeInteger(UInt8(ascii: "\r"))
                        spanStart = index
                    }
                    // The line ends here: decide whether TOP has sent enough.
                    let lineWasEmpty = lineLength == 0
                    lineLength = 0
                    atLineStart = true
                    previousWasCR = false
                    if endOfLine(empty: lineWasEmpty) {
                        flush(index + 1)
                        spanStart = index + 1
                        done = true
                        break
                    }
                } else {
                    previousWasCR = byte == UInt8(ascii: "\r")
                    if !previousWasCR { lineLength += 1 }
                }
                index += 1
            }
            if !done { flush(count) }
        }
    }

    private var lineLength = 0

    /// Accounts for a finished line; true when TOP's limit is reached.
    private mutating func endOfLine(empty: Bool) -> Bool {
        guard let limit = bodyLineLimit else { return false }
        if inHeader {
            if empty {
                inHeader = false
                bodyLinesLeft = limit
                return limit == 0
            }
            return false
        }
        bodyLinesLeft! -= 1
        return bodyLinesLeft! <= 0
    }

    /// Ends the multi-line response: a CRLF if the message did not end with one, then ".".
    public mutating func finish(into out: inout ByteBuffer) {
        if !atLineStart {
            if previousWasCR { out.writeString("\n") } else { out.writeString("\r\n") }
        }
        out.writeString(".\r\n")
        done = true
    }

    /// A whole multi-line listing (CAPA, LIST, UIDL) from lines without terminators.
    public static func writeLines(_ lines: [String], into out: inout ByteBuffer) {
        for line in lines {
            if line.hasPrefix(".") { out.writeString(".") }
            out.writeString(line)
            out.writeString("\r\n")
        }
        out.writeString(".\r\n")
    }
}
