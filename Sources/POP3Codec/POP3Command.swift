import NIOCore

/// A POP3 command (RFC 1939 §3–7, RFC 2449 CAPA, RFC 5034 AUTH, RFC 2595 STLS).
///
/// Message numbers are the 1-based numbers of the session's maildrop snapshot; the parser
/// keeps them as written (range checks belong to the session).
public enum POP3Command: Hashable, Sendable {
    case user(String)
    /// PASS: the rest of the line, spaces included (RFC 1939 §7 allows them in passwords).
    case pass(String)
    /// AUTH without a mechanism lists the mechanisms (the draft-myers-sasl-pop3 discovery form
    /// clients such as Outlook still use); with one, an optional initial response (RFC 5034 §4).
    case auth(mechanism: String?, initialResponse: String?)
    case stls
    case capa
    case stat
    case list(Int?)
    case retr(Int)
    case dele(Int)
    case noop
    case rset
    case top(Int, lines: Int)
    case uidl(Int?)
    case quit

    /// The keyword as written on the wire, upper case.
    public var name: String {
        switch self {
        case .user: "USER"
        case .pass: "PASS"
        case .auth: "AUTH"
        case .stls: "STLS"
        case .capa: "CAPA"
        case .stat: "STAT"
        case .list: "LIST"
        case .retr: "RETR"
        case .dele: "DELE"
        case .noop: "NOOP"
        case .rset: "RSET"
        case .top: "TOP"
        case .uidl: "UIDL"
        case .quit: "QUIT"
        }
    }
}

// MARK: - Encoding

extension POP3Command {
    /// Writes the command line with its CRLF (the client side: tests and the Murder proxy).
    public func write(into buffer: inout ByteBuffer) {
        var line = name
        switch self {
        case .user(let name): line += " " + name
        case .pass(let password): line += " " + password
        case .auth(let mechanism, let initial):
            if let mechanism { line += " " + mechanism }
            if let initial { line += " " + initial }
        case .list(let number), .uidl(let number):
            if let number { line += " \(number)" }
        case .retr(let number), .dele(let number):
            line += " \(number)"
        case .top(let number, let lines):
            line += " \(number) \(lines)"
        case .stls, .capa, .stat, .noop, .rset, .quit:
            break
        }
        buffer.writeString(line)
        buffer.writeString("\r\n")
    }
}
