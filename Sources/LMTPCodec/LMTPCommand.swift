import NIOCore

/// One LMTP command (RFC 2033, with RFC 5321 syntax).
public enum LMTPCommand: Hashable, Sendable {
    case lhlo(String)
    case mailFrom(MailPath?, parameters: [ESMTPParameter])
    case rcptTo(MailPath, parameters: [ESMTPParameter])
    case data
    case rset
    case noop
    case quit
}

/// An ESMTP parameter such as `SIZE=4096` or `BODY=8BITMIME` (RFC 5321 §4.1.2).
public struct ESMTPParameter: Hashable, Sendable {
    /// Upper-cased keyword.
    public var keyword: String
    public var value: String?

    public init(keyword: String, value: String?) {
        self.keyword = keyword.uppercased()
        self.value = value
    }
}

// MARK: - Encoding

extension LMTPCommand {
    /// Writes the command as a client sends it, CRLF included.
    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .lhlo(let domain):
            buffer.writeString("LHLO \(domain)\r\n")
        case .mailFrom(let path, let parameters):
            buffer.writeString("MAIL FROM:<\(path?.description ?? "")>")
            for parameter in parameters { buffer.writeString(" " + parameter.text) }
            buffer.writeString("\r\n")
        case .rcptTo(let path, let parameters):
            buffer.writeString("RCPT TO:<\(path)>")
            for parameter in parameters { buffer.writeString(" " + parameter.text) }
            buffer.writeString("\r\n")
        case .data: buffer.writeString("DATA\r\n")
        case .rset: buffer.writeString("RSET\r\n")
        case .noop: buffer.writeString("NOOP\r\n")
        case .quit: buffer.writeString("QUIT\r\n")
        }
    }
}

extension ESMTPParameter {
    var text: String { value.map { "\(keyword)=\($0)" } ?? keyword }
}
