/// A mailbox address from a MAIL FROM or RCPT TO path: `local-part@domain`.
///
/// The domain is optional because LMTP delivery agents commonly address local users bare
/// (`RCPT TO:<alice>`), which Cyrus accepts.
public struct MailPath: Hashable, Sendable, CustomStringConvertible {
    /// The local part, unquoted.
    public var localPart: String
    public var domain: String?

    public init(localPart: String, domain: String?) {
        self.localPart = localPart
        self.domain = domain
    }

    public var description: String {
        let local =
            localPart.utf8.allSatisfy { MailPath.isAtext($0) || $0 == UInt8(ascii: ".") }
            ? localPart : "\"" + localPart.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
        return domain.map { "\(local)@\($0)" } ?? local
    }

    /// RFC 5322 atext, plus bytes ≥ 0x80 for SMTPUTF8-style local parts.
    static func isAtext(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case 0x80...0xff:
            return true
        default:
            return Array("!#$%&'*+-/=?^_`{|}~".utf8).contains(c)
        }
    }
}
