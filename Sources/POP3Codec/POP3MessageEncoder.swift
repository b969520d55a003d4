import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        if bodyLineLimit != nil { return encodeCounting(chunk, into: &out) }
        out.reserveCapacity(minimumWritableBytes: chunk.readableBytes + chunk.readableBytes / 64 + 8)
        // RETR: line ends are found with memchr, and the bytes between the places that need a
        // change (a "." to stuff, a CR to add) are copied in one piece, so a message that needs
        // no change is copied once. State lives in locals and is written back once.
        var atLineStart = self.atLineStart
        var previousWasCR = self.previousWasCR
        chunk.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            let count = bytes.count
            var index = 0
            var spanStart = 0
            func flush(_ end: Int) {
                if end > spanStart {
                    out.writeBytes(UnsafeRawBufferPointer(start: base + spanStart, count: end - spanStart))
                }
                spanStart = end
            }
            while index < count {
                if atLineStart, base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: ".") {
                    flush(index)
                    out.writeInteger(UInt8(ascii: "."))
                }
                guard let found = memchr(base + index, Int32(UInt8(ascii: "\n")), count - index) else {
                    // The line goes on past this chunk.
                    previousWasCR = base.load(fromByteOffset: count - 1, as: UInt8.self) == UInt8(ascii: "\r")
                    atLineStart = false
                    break
                }
                let newline = base.distance(to: UnsafeRawPointer(found))
                let crBefore =
                    newline > index
                    ? base.load(fromByteOffset: newline - 1, as: UInt8.self) == UInt8(ascii: "\r") : previousWasCR
                if !crBefore {
                    flush(newline)
                    out.writeInteger(UInt8(ascii: "\r"))
                }
                atLineStart = true
                previousWasCR = false
                index = newline + 1
            }
            flush(count)
        }
        self.atLineStart = atLineStart
        self.previousWasCR = previousWasCR
    }

    /// TOP: line by line, counting body lines after the header.
    private mutating func encodeCounting(_ chunk: ByteBuffer, into out: inout ByteBuffer) {
        guard !done else { return }
        out.reserveCapacity(minimumWritableBytes: chunk.readableBytes + chunk.readableBytes / 64 + 8)
        // Line by line with memchr: the bytes between line starts are copied in bulk, and only
        // line starts ("." to stuff) and line ends (a missing CR, TOP's count) are looked at.
        // State lives in locals for the loop and is written back once.
        var atLineStart = self.atLineStart
        var previousWasCR = self.previousWasCR
        var lineLength = self.lineLength
        chunk.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            let count = bytes.count
            var index = 0
            while index < count {
                if atLineStart, base.load(fromByteOffset: index, as: UInt8.self) == UInt8(ascii: ".") {
                    out.writeInteger(UInt8(ascii: "."))
                }
                let found = memchr(base + index, Int32(UInt8(ascii: "\n")), count - index)
                guard let found else {
                    // The line goes on past this chunk.
                    let rest = count - index
                    out.writeBytes(UnsafeRawBufferPointer(start: base + index, count: rest))
                    let last = base.load(fromByteOffset: count - 1, as: UInt8.self)
                    lineLength += rest - (last == UInt8(ascii: "\r") ? 1 : 0)
                    previousWasCR = last == UInt8(ascii: "\r")
                    atLineStart = false
                    index = count
                    break
                }
                let newline = base.distance(to: UnsafeRawPointer(found))
                let crBefore: Bool
                if newline > index {
                    crBefore = base.load(fromByteOffset: newline - 1, as: UInt8.self) == UInt8(ascii: "\r")
                } else {
                    crBefore = previousWasCR
                }
                let contentEnd = crBefore && newline > index ? newline - 1 : newline
                lineLength += contentEnd - index
                if crBefore {
                    out.writeBytes(UnsafeRawBufferPointer(start: base + index, count: newline + 1 - index))
                } else {
                    out.writeBytes(UnsafeRawBufferPointer(start: base + index, count: newline - index))
                    out.writeString("\r\n")
                }
                let lineWasEmpty = lineLength == 0
                lineLength = 0
                atLineStart = true
                previousWasCR = false
                index = newline + 1
                if bodyLineLimit != nil, endOfLine(empty: lineWasEmpty) {
                    done = true
                    break
                }
            }
        }
        self.atLineStart = atLineStart
        self.previousWasCR = previousWasCR
        self.lineLength = lineLength
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
