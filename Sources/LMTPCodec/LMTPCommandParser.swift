import NIOCore
import WireCore

/// Why a command line could not be parsed; maps to `500` or `501` replies.
public enum LMTPParseError: Error, Hashable, Sendable {
    /// The verb is not an LMTP command (reply 500 5.5.2).
    case unrecognized
    /// The verb is known but its arguments are malformed (reply 501 5.5.4), with a reason.
    case syntax(String)
}

/// Parses LMTP command lines (without their CRLF).
public enum LMTPCommandParser {
    /// Named limit: ESMTP parameters accepted on one MAIL or RCPT command.
    public static let maxParameters = 16

    /// Parses one command line.
    ///
    /// ```
    /// command   = lhlo / mail / rcpt / "DATA" / "RSET" / "NOOP" [SP string] / "QUIT"
    /// lhlo      = "LHLO" SP domain-or-literal
    /// mail      = "MAIL FROM:" [SP] reverse-path *(SP esmtp-param)
    /// rcpt      = "RCPT TO:" [SP] forward-path *(SP esmtp-param)
    /// ```
    /// The optional SP after the colon is a widely tolerated deviation from RFC 5321.
    public static func parseCommand(_ line: ByteBuffer) throws(LMTPParseError) -> LMTPCommand {
        var cursor = ParseCursor(Array(line.readableBytesView))
        if cursor.remaining.contains(0) { throw .syntax("NUL byte in command") }
        if cursor.consume(caseInsensitive: "LHLO") {
            guard cursor.consume(UInt8(ascii: " ")) else { throw .syntax("LHLO needs a host name") }
            let host = String(decoding: cursor.consumeRest(), as: UTF8.self).trimmingSpaces()
            guard !host.isEmpty, !host.contains(" ") else { throw .syntax("LHLO needs exactly one host name") }
            return .lhlo(host)
        }
        if cursor.consume(caseInsensitive: "MAIL FROM:") {
            _ = cursor.consume(UInt8(ascii: " "))
            let path = try parsePath(&cursor, allowNull: true)
            return .mailFrom(path, parameters: try parseParameters(&cursor))
        }
        if cursor.consume(caseInsensitive: "RCPT TO:") {
            _ = cursor.consume(UInt8(ascii: " "))
            guard let path = try parsePath(&cursor, allowNull: false) else { throw .syntax("empty recipient") }
            return .rcptTo(path, parameters: try parseParameters(&cursor))
        }
        let verb = String(decoding: cursor.consume(while: { $0 != UInt8(ascii: " ") }), as: UTF8.self).uppercased()
        let hasArguments = !cursor.isAtEnd
        switch verb {
        case "DATA":
            if hasArguments { throw .syntax("DATA takes no arguments") }
            return .data
        case "RSET":
            if hasArguments { throw .syntax("RSET takes no arguments") }
            return .rset
        case "QUIT":
            if hasArguments { throw .syntax("QUIT takes no arguments") }
            return .quit
        case "NOOP": return .noop
        case "MAIL", "RCPT": throw .syntax("expected \(verb == "MAIL" ? "MAIL FROM:<address>" : "RCPT TO:<address>")")
        default: throw .unrecognized
        }
    }

    /// ```
    /// path         = "<" [ a-d-l ":" ] mailbox ">"     ; reverse-path also allows "<>"
    /// a-d-l        = at-domain *( "," at-domain )      ; source route, ignored (RFC 5321 §4.1.2)
    /// mailbox      = local-part [ "@" domain ]
    /// local-part   = dot-string / quoted-string
    /// ```
    static func parsePath(_ cursor: inout ParseCursor, allowNull: Bool) throws(LMTPParseError) -> MailPath? {
        guard cursor.consume(UInt8(ascii: "<")) else { throw .syntax("address must be enclosed in <>") }
        if cursor.consume(UInt8(ascii: ">")) {
            guard allowNull else { throw .syntax("empty address") }
            return nil
        }
        if cursor.peek() == UInt8(ascii: "@") {
            _ = cursor.consume(while: { $0 != UInt8(ascii: ":") && $0 != UInt8(ascii: ">") })
            guard cursor.consume(UInt8(ascii: ":")) else { throw .syntax("malformed source route") }
        }
        let localPart: String
        if cursor.consume(UInt8(ascii: "\"")) {
            var bytes: [UInt8] = []
            while true {
                guard let c = cursor.peek() else { throw .syntax("unterminated quoted local part") }
                _ = cursor.consume(c)
                if c == UInt8(ascii: "\"") { break }
                if c == UInt8(ascii: "\\") {
                    guard let escaped = cursor.peek() else { throw .syntax("unterminated quoted local part") }
                    _ = cursor.consume(escaped)
                    bytes.append(escaped)
                } else {
                    bytes.append(c)
                }
            }
            localPart = String(decoding: bytes, as: UTF8.self)
        } else {
            let raw = cursor.consume(while: { MailPath.isAtext($0) || $0 == UInt8(ascii: ".") })
            guard !raw.isEmpty, raw.first != UInt8(ascii: "."), raw.last != UInt8(ascii: "."),
                !zip(raw, raw.dropFirst()).contains(where: { $0 == UInt8(ascii: ".") && $1 == UInt8(ascii: ".") })
            else { throw .syntax("malformed local part") }
            localPart = String(decoding: raw, as: UTF8.self)
        }
        var domain: String?
        if cursor.consume(UInt8(ascii: "@")) {
            let raw = cursor.consume(while: { c in
                MailPath.isAtext(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "[") || c == UInt8(ascii: "]")
                    || c == UInt8(ascii: ":")
            })
            guard !raw.isEmpty else { throw .syntax("empty domain") }
            domain = String(decoding: raw, as: UTF8.self)
        }
        guard cursor.consume(UInt8(ascii: ">")) else { throw .syntax("address must end with >") }
        return MailPath(localPart: localPart, domain: domain)
    }

    /// ```
    /// esmtp-params = *( SP esmtp-keyword [ "=" esmtp-value ] )
    /// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
    /// esmtp-value   = 1*(%d33-60 / %d62-126)
    /// ```
    static func parseParameters(_ cursor: inout ParseCursor) throws(LMTPParseError) -> [ESMTPParameter] {
        var parameters: [ESMTPParameter] = []
        while !cursor.isAtEnd {
            guard cursor.consume(UInt8(ascii: " ")) else { throw .syntax("expected space before parameter") }
            if cursor.isAtEnd { break }
            let keyword = cursor.consume(while: { c in
                (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z")) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
                    || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-")
            })
            guard !keyword.isEmpty else { throw .syntax("malformed parameter") }
            var value: String?
            if cursor.consume(UInt8(ascii: "=")) {
                let raw = cursor.consume(while: { $0 >= 33 && $0 <= 126 && $0 != UInt8(ascii: "=") })
                guard !raw.isEmpty else { throw .syntax("empty parameter value") }
                value = String(decoding: raw, as: UTF8.self)
            }
            parameters.append(ESMTPParameter(keyword: String(decoding: keyword, as: UTF8.self), value: value))
            guard parameters.count <= maxParameters else { throw .syntax("too many parameters") }
        }
        return parameters
    }
}

extension String {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while slice.first == " " { slice = slice.dropFirst() }
        while slice.last == " " { slice = slice.dropLast() }
        return String(slice)
    }
}
