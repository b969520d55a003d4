import NIOCore

/// The status of a tagged or untagged status response (RFC 9051 §7.1).
public enum IMAPStatus: String, Hashable, Sendable {
    case ok = "OK"
    case no = "NO"
    case bad = "BAD"
    case preauth = "PREAUTH"
    case bye = "BYE"
}

/// A response code in brackets (RFC 9051 §7.1, RFC 5530).
public enum IMAPResponseCode: Hashable, Sendable {
    case alert, parse, readOnly, readWrite, tryCreate, nonexistent, alreadyExists, overQuota, tooBig
    case unavailable, authenticationFailed, authorizationFailed, privacyRequired, cannot, limit, serverBug
    case clientBug, contactAdmin, noPerm, inUse, expungeIssued, corruption, closed
    case capability([String])
    case uidValidity(UInt32)
    case uidNext(UInt32)
    case permanentFlags([String])
    case highestModSeq(UInt64)
    case appendUID(uidValidity: UInt32, uids: String)
    case copyUID(uidValidity: UInt32, from: String, to: String)
    case other(String)

    var text: String {
        switch self {
        case .alert: "ALERT"
        case .parse: "PARSE"
        case .readOnly: "READ-ONLY"
        case .readWrite: "READ-WRITE"
        case .tryCreate: "TRYCREATE"
        case .nonexistent: "NONEXISTENT"
        case .alreadyExists: "ALREADYEXISTS"
        case .overQuota: "OVERQUOTA"
        case .tooBig: "TOOBIG"
        case .unavailable: "UNAVAILABLE"
        case .authenticationFailed: "AUTHENTICATIONFAILED"
        case .authorizationFailed: "AUTHORIZATIONFAILED"
        case .privacyRequired: "PRIVACYREQUIRED"
        case .cannot: "CANNOT"
        case .limit: "LIMIT"
        case .serverBug: "SERVERBUG"
        case .clientBug: "CLIENTBUG"
        case .contactAdmin: "CONTACTADMIN"
        case .noPerm: "NOPERM"
        case .inUse: "INUSE"
        case .expungeIssued: "EXPUNGEISSUED"
        case .corruption: "CORRUPTION"
        case .closed: "CLOSED"
        case .capability(let caps): "CAPABILITY " + caps.joined(separator: " ")
        case .uidValidity(let v): "UIDVALIDITY \(v)"
        case .uidNext(let v): "UIDNEXT \(v)"
        case .permanentFlags(let flags): "PERMANENTFLAGS (\(flags.joined(separator: " ")))"
        case .highestModSeq(let v): "HIGHESTMODSEQ \(v)"
        case .appendUID(let validity, let uids): "APPENDUID \(validity) \(uids)"
        case .copyUID(let validity, let from, let to): "COPYUID \(validity) \(from) \(to)"
        case .other(let raw): raw
        }
    }
}

/// A server response line (RFC 9051 §7). Data responses with literals (FETCH bodies) arrive
/// with issue 3's FETCH work; `untagged` carries pre-encoded text for the simple ones.
public enum IMAPResponse: Hashable, Sendable {
    /// `tag OK [CODE] text`
    case tagged(tag: String, status: IMAPStatus, code: IMAPResponseCode?, text: String)
    /// `* OK [CODE] text`, `* BYE …`, `* PREAUTH …`
    case untaggedStatus(status: IMAPStatus, code: IMAPResponseCode?, text: String)
    /// `* <data>` for data without literals, e.g. `CAPABILITY IMAP4rev2 …`, `3 EXISTS`.
    case untagged(String)
    /// `+ text` (continuation request)
    case continuation(String)
}

// MARK: - Encoding

extension IMAPResponse {
    public func write(into buffer: inout ByteBuffer) {
        switch self {
        case .tagged(let tag, let status, let code, let text):
            buffer.writeString("\(tag) \(status.rawValue) ")
            Self.writeCodeAndText(code, text, into: &buffer)
        case .untaggedStatus(let status, let code, let text):
            buffer.writeString("* \(status.rawValue) ")
            Self.writeCodeAndText(code, text, into: &buffer)
        case .untagged(let data):
            buffer.writeString("* ")
            buffer.writeString(Self.sanitized(data))
        case .continuation(let text):
            buffer.writeString("+ ")
            buffer.writeString(Self.sanitized(text))
        }
        buffer.writeString("\r\n")
    }

    private static func writeCodeAndText(_ code: IMAPResponseCode?, _ text: String, into buffer: inout ByteBuffer) {
        if let code { buffer.writeString("[\(sanitized(code.text))] ") }
        // resp-text must not be empty (RFC 9051 `text = 1*TEXT-CHAR`).
        buffer.writeString(sanitized(text.isEmpty ? "done" : text))
    }

    /// Text never carries CR or LF (a response-injection guard): they become spaces.
    static func sanitized(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { out.append(scalar == "\r" || scalar == "\n" ? " " : scalar) }
        return String(out)
    }
}
