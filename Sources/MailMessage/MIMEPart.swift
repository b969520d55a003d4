/// The MIME structure of a message (RFC 2045, RFC 2046): what BODYSTRUCTURE and
/// BODY[section] are computed from. Parts refer to byte ranges of the original message.
public struct MIMEPart: Sendable {
    public var header: MessageHeader
    /// Where this part's header starts, its body starts and ends, in the message's bytes.
    public var headerStart: Int
    public var bodyStart: Int
    public var bodyEnd: Int
    public var contentType: ContentType
    /// Sub-parts of a multipart.
    public var parts: [MIMEPart]
    /// The message inside a `message/rfc822` (or `message/global`) part.
    public var encapsulated: [MIMEPart]

    /// Named limits: nesting depth and parts per multipart (a hostile message cannot make
    /// the parser recurse or allocate without bound).
    public static let maxDepth = 50
    public static let maxParts = 10_000

    /// Parses a whole message.
    public static func parse(_ message: [UInt8]) -> MIMEPart {
        parse(message, start: 0, end: message.count, depth: 0, defaultType: .default)
    }

    static func parse(_ bytes: [UInt8], start: Int, end: Int, depth: Int, defaultType: ContentType) -> MIMEPart {
        let header = MessageHeader(parsing: bytes[start..<end])
        let bodyStart = start + header.bodyOffset
        let contentType =
            header.first("Content-Type").map { ContentType(parsing: EncodedWord.decode($0.unfoldedValue)) }
            ?? defaultType
        var part = MIMEPart(
            header: header,
            headerStart: start,
            bodyStart: bodyStart,
            bodyEnd: end,
            contentType: contentType,
            parts: [],
            encapsulated: []
        )
        guard depth < maxDepth else { return part }
        if contentType.type == "multipart", let boundary = contentType.parameters["boundary"], !boundary.isEmpty {
            // Inside multipart/digest the default type is message/rfc822 (RFC 2046 §5.1.5).
            let childDefault =
                contentType.subtype == "digest"
                ? ContentType(type: "message", subtype: "rfc822", parameters: [:]) : .default
            for (partStart, partEnd) in bodies(bytes, from: bodyStart, to: end, boundary: Array(boundary.utf8)) {
                part.parts.append(
                    parse(bytes, start: partStart, end: partEnd, depth: depth + 1, defaultType: childDefault)
                )
            }
        } else if contentType.type == "message", contentType.subtype == "rfc822" || contentType.subtype == "global" {
            part.encapsulated = [parse(bytes, start: bodyStart, end: end, depth: depth + 1, defaultType: .default)]
        }
        return part
    }

    /// The (start, end) of each body part between `--boundary` delimiter lines. A missing
    /// close delimiter ends the last part at `end` (broken mailers); the CRLF before each
    /// delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    static func bodies(_ bytes: [UInt8], from start: Int, to end: Int, boundary: [UInt8]) -> [(Int, Int)] {
        let delimiter = [UInt8(ascii: "-"), UInt8(ascii: "-")] + boundary
        var results: [(Int, Int)] = []
        var current: Int?
        var lineStart = start
        while lineStart < end {
            var lineEnd = lineStart
            while lineEnd < end, bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let next = min(lineEnd + 1, end)
            if lineEnd - lineStart >= delimiter.count,
                bytes[lineStart..<(lineStart + delimiter.count)].elementsEqual(delimiter)
            {
                let after = lineStart + delimiter.count
                let closing =
                    after + 1 < end && bytes[after] == UInt8(ascii: "-") && bytes[after + 1] == UInt8(ascii: "-")
                if let open = current {
                    var partEnd = lineStart
                    if partEnd > open, bytes[partEnd - 1] == UInt8(ascii: "\n") { partEnd -= 1 }
                    if partEnd > open, bytes[partEnd - 1] == UInt8(ascii: "\r") { partEnd -= 1 }
                    results.append((open, partEnd))
                    if results.count >= maxParts { return results }
                }
                if closing { return results }
                current = next
            }
            lineStart = next
        }
        if let open = current, open < end { results.append((open, end)) }
        return results
    }
}
