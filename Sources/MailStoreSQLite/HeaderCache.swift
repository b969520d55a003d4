import NIOCore

/// The one rule for what the `headers` table keeps of a message (decision 0005).
///
/// A message's header runs through its first empty line: the first LF followed by LF or by
/// CRLF (so CRLF CRLF and LF LF both end it, RFC 5322 §2.1). A header longer than ``limit``
/// is not cached. A message with no empty line is all header, cached whole when it is at most
/// ``limit`` bytes. Staging applies the rule as bytes arrive; `check` and `reconstruct` apply
/// it to stored messages, so both must call the same functions.
enum HeaderCache {
    /// Named limit: headers longer than this are not cached (reads fall back to the message).
    static let limit = 64 * 1024

    /// The length of the header in `bytes`, through its empty line; nil when no empty line
    /// ends within `bytes`.
    ///
    /// `offset` lets a caller that already scanned a prefix resume near its end: it must be at
    /// most 3 bytes before the end of what was scanned, so an empty line split across the
    /// boundary is still found.
    static func headerLength(in bytes: ByteBufferView, scanningFrom offset: Int = 0) -> Int? {
        let lineFeed = UInt8(ascii: "\n")
        let carriageReturn = UInt8(ascii: "\r")
        var index = bytes.startIndex + offset
        while let found = bytes[index...].firstIndex(of: lineFeed) {
            let next = found + 1
            if next < bytes.endIndex, bytes[next] == lineFeed {
                return next + 1 - bytes.startIndex
            }
            if next + 1 < bytes.endIndex, bytes[next] == carriageReturn, bytes[next + 1] == lineFeed {
                return next + 2 - bytes.startIndex
            }
            index = next
        }
        return nil
    }

    /// How many leading bytes of a stored message the cache keeps; nil when it keeps none.
    ///
    /// - Parameters:
    ///   - start: the message's first bytes: at least ``limit`` of them, or all of them when
    ///     the message is shorter.
    ///   - messageSize: the whole message's size in bytes.
    static func cachedLength(start: ByteBufferView, messageSize: Int64) -> Int? {
        if let end = headerLength(in: start) { return end <= limit ? end : nil }
        return messageSize <= limit ? Int(messageSize) : nil
    }
}
