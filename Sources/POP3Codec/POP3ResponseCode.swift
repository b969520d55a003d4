/// An extended response code in brackets after `+OK`/`-ERR` (RFC 2449 §8, RFC 3206).
public enum POP3ResponseCode: Hashable, Sendable {
    /// The maildrop is in use (RFC 2449 §8.1.1).
    case inUse
    /// Logins come faster than `LOGIN-DELAY` allows (RFC 2449 §8.1.2).
    case loginDelay
    /// A temporary problem; retrying later may work (RFC 3206 §4).
    case systemTemporary
    /// A permanent problem needing the administrator (RFC 3206 §4).
    case systemPermanent
    /// Credentials were wrong or authentication is not allowed this way (RFC 3206 §5).
    case auth
    /// Any other code, kept as written.
    case other(String)

    public var text: String {
        switch self {
        case .inUse: "IN-USE"
        case .loginDelay: "LOGIN-DELAY"
        case .systemTemporary: "SYS/TEMP"
        case .systemPermanent: "SYS/PERM"
        case .auth: "AUTH"
        case .other(let text): text
        }
    }

    public init(text: String) {
        switch text.uppercased() {
        case "IN-USE": self = .inUse
        case "LOGIN-DELAY": self = .loginDelay
        case "SYS/TEMP": self = .systemTemporary
        case "SYS/PERM": self = .systemPermanent
        case "AUTH": self = .auth
        default: self = .other(text)
        }
    }
}
