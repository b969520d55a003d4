/// What `BINARY[part]` and `BINARY.SIZE[part]` return (RFC 3516, RFC 9051 §6.4.5).
public enum BinaryResult: Hashable, Sendable {
    /// The part's body with its Content-Transfer-Encoding undone.
    case content([UInt8])
    /// The part declares an encoding the server cannot decode: the server answers
    /// `NO [UNKNOWN-CTE]` (RFC 3516 §4.3).
    case unknownTransferEncoding(String)
    /// The message has no such part.
    case nonexistentPart

    /// The decoded size, for `BINARY.SIZE`; nil unless this is ``content(_:)``.
    public var size: Int? {
        if case .content(let bytes) = self { return bytes.count }
        return nil
    }
}

extension MessageSection {
    /// The decoded body of the part at `part` (RFC 3516 `BINARY[section-binary]`).
    ///
    /// base64 and quoted-printable are decoded, 7bit, 8bit and binary pass through, and so do
    /// multipart and message parts (RFC 2045 §6.4 allows them no other encoding). An empty
    /// path is the top-level message's body, decoded by the top-level header's encoding.
    ///
    /// ```
    /// C: A2 FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])
    /// S: * 1 FETCH (BINARY.SIZE[2] 4 BINARY[2] ~{4}
    /// S: ....)
    /// ```
    public static func binaryContent(part: [Int], of message: [UInt8]) -> BinaryResult {
        binaryContent(part: part, of: message, structure: MIMEPart.parse(message))
    }

    /// Like ``binaryContent(part:of:)`` with `structure` already parsed from `message`.
    public static func binaryContent(part: [Int], of message: [UInt8], structure: MIMEPart) -> BinaryResult {
        guard let target = structure.part(at: part) else { return .nonexistentPart }
        let lower = max(0, min(target.bodyStart, message.count))
        let body = message[lower..<max(lower, min(target.bodyEnd, message.count))]
        if target.contentType.type == "multipart" || target.contentType.type == "message" {
            return .content(Array(body))
        }
        let encoding = ContentTransferEncoding(header: target.header)
        guard let decoded = encoding.decode(body) else {
            if case .unknown(let name) = encoding { return .unknownTransferEncoding(name) }
            return .unknownTransferEncoding("")
        }
        return .content(decoded)
    }
}
