import MailCore

/// A part's `Content-Transfer-Encoding` (RFC 2045 §6) and its decoding.
///
/// ```
/// encoding := "Content-Transfer-Encoding" ":" mechanism
/// mechanism := "7bit" / "8bit" / "binary" / "quoted-printable" / "base64" / ietf-token / x-token
/// ```
public enum ContentTransferEncoding: Hashable, Sendable {
    case sevenBit
    case eightBit
    case binary
    case quotedPrintable
    case base64
    /// Anything else (`x-uuencode`, typos), lower-cased: BINARY answers `NO [UNKNOWN-CTE]`.
    case unknown(String)

    /// The encoding a header declares; 7bit when it declares none (RFC 2045 §6.1).
    public init(header: MessageHeader) {
        self.init(parsing: header.first("Content-Transfer-Encoding")?.unfoldedValue ?? "")
    }

    /// Parses a field value; comments are allowed around the mechanism.
    public init(parsing value: String) {
        var scanner = HeaderScanner(Array(value.unicodeScalars))
        switch scanner.token().lowercased() {
        case "", "7bit": self = .sevenBit
        case "8bit": self = .eightBit
        case "binary": self = .binary
        case "quoted-printable": self = .quotedPrintable
        case "base64": self = .base64
        case let other: self = .unknown(other)
        }
    }

    /// The decoded bytes of `body`, or nil for an unknown encoding. Decoding is lenient as
    /// mail in the wild needs: base64 skips characters outside its alphabet and stops at padding, quoted-printable
    /// keeps malformed escapes as they are.
    public func decode(_ body: ArraySlice<UInt8>) -> [UInt8]? {
        switch self {
        case .sevenBit, .eightBit, .binary: Array(body)
        case .base64: Self.decodeBase64(body)
        case .quotedPrintable: Self.decodeQuotedPrintable(body)
        case .unknown: nil
        }
    }

    static func decodeBase64(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var alphabet: [UInt8] = []
        alphabet.reserveCapacity(body.count)
        for byte in body {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                alphabet.append(byte)
            case UInt8(ascii: "="):
                // Padding ends the data (RFC 2045 §6.8); what follows is ignored.
                return Base64.decodeLenient(alphabet) ?? []
            default:
                continue  // line breaks and junk that broken mailers leave
            }
        }
        return Base64.decodeLenient(alphabet) ?? []
    }

    /// RFC 2045 §6.7: trailing white space on a line is transport padding and goes; a line
    /// ending in "=" is a soft line break; other line breaks are kept as they are.
    static func decodeQuotedPrintable(_ body: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count)
        var lineStart = body.startIndex
        while lineStart < body.endIndex {
            var lineEnd = lineStart
            while lineEnd < body.endIndex, body[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let hasNewline = lineEnd < body.endIndex
            var contentEnd = lineEnd
            if hasNewline, contentEnd > lineStart, body[contentEnd - 1] == UInt8(ascii: "\r") { contentEnd -= 1 }
            let breakStart = contentEnd
            while contentEnd > lineStart, body[contentEnd - 1] == UInt8(ascii: " ") || body[contentEnd - 1] == 9 {
                contentEnd -= 1
            }
            let soft = contentEnd > lineStart && body[contentEnd - 1] == UInt8(ascii: "=")
            EncodedWord.appendQuoted(
                body[lineStart..<(soft ? contentEnd - 1 : contentEnd)],
                underscoreIsSpace: false,
                to: &out
            )
            if hasNewline && !soft { out += body[breakStart...lineEnd] }
            lineStart = hasNewline ? lineEnd + 1 : body.endIndex
        }
        return out
    }
}
