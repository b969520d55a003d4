import NIOCore

/// A POP3 status line: `+OK`/`-ERR`, an optional extended code and text (RFC 1939 §3,
/// RFC 2449 §8), or a SASL continuation `+ base64` (RFC 5034 §4).
public enum POP3Response: Hashable, Sendable {
    case ok(POP3ResponseCode?, String)
    case err(POP3ResponseCode?, String)
    case continuation(String)

    public static func ok(_ text: String) -> POP3Response { .ok(nil, text) }
    public static func err(_ text: String) -> POP3Response { .err(nil, text) }

    public var isOK: Bool { if case .ok = self { true } else { false } }

    /// ```
    /// status-line  = ("+OK" / "-ERR") [SP [resp-code SP] text] CRLF
    /// resp-code    = "[" resp-level *("/" resp-level) "]"
    /// continuation = "+" SP [base64] CRLF
    /// ```
    /// Parses a status line without its CRLF (the client side).
    public static func parse(_ line: ByteBuffer) throws(POP3ParseError) -> POP3Response {
        let text = String(decoding: line.readableBytesView, as: UTF8.self)
        let ok: Bool
        var rest: Substring
        if text.hasPrefix("+OK") {
            ok = true
            rest = text.dropFirst(3)
        } else if text.hasPrefix("-ERR") {
            ok = false
            rest = text.dropFirst(4)
        } else if text == "+" || text.hasPrefix("+ ") {
            return .continuation(String(text.dropFirst(2)))
        } else {
            throw POP3ParseError("Not a POP3 status line")
        }
        if rest.first == " " { rest = rest.dropFirst() } else if !rest.isEmpty { throw POP3ParseError.syntax }
        var code: POP3ResponseCode?
        if rest.first == "[", let close = rest.firstIndex(of: "]") {
            code = POP3ResponseCode(text: String(rest[rest.index(after: rest.startIndex)..<close]))
            rest = rest[rest.index(after: close)...]
            if rest.first == " " { rest = rest.dropFirst() }
        }
        return ok ? .ok(code, String(rest)) : .err(code, String(rest))
    }
}

// MARK: - Encoding

extension POP3Response {
    /// Writes the status line with its CRLF. Text never contains CR or LF (they are dropped).
    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .ok(let code, let text):
            Self.writeStatus("+OK", code, text, into: &buffer)
        case .err(let code, let text):
            Self.writeStatus("-ERR", code, text, into: &buffer)
        case .continuation(let data):
            buffer.writeString("+ ")
            buffer.writeString(data)
            buffer.writeString("\r\n")
        }
    }

    private static func writeStatus(
        _ status: String,
        _ code: POP3ResponseCode?,
        _ text: String,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeString(status)
        if let code { buffer.writeString(" [\(code.text)]") }
        let clean = text.filter { $0 != "\r" && $0 != "\n" && $0 != "\r\n" }
        if !clean.isEmpty {
            buffer.writeString(" ")
            buffer.writeString(clean)
        }
        buffer.writeString("\r\n")
    }
}
