import MailMessage
import NIOCore

/// One item of a FETCH request (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ, RFC 8474).
/// The macros ALL, FAST and FULL are expanded by the parser.
public enum FetchAttribute: Hashable, Sendable {
    case envelope
    case flags
    case internalDate
    /// `RFC822.SIZE`
    case rfc822Size
    /// `RFC822` (like `BODY[]`, sets \Seen)
    case rfc822
    /// `RFC822.HEADER` (like `BODY.PEEK[HEADER]`)
    case rfc822Header
    /// `RFC822.TEXT` (like `BODY[TEXT]`, sets \Seen)
    case rfc822Text
    /// `BODY` without a section: BODYSTRUCTURE without extension data.
    case bodyStructureNonExtensible
    case bodyStructure
    case uid
    case modSeq
    /// `EMAILID` (RFC 8474)
    case emailID
    /// `THREADID` (RFC 8474)
    case threadID
    /// `SAVEDATE` (RFC 8514)
    case saveDate
    /// `BODY[section]<partial>` or `BODY.PEEK[…]`
    case bodySection(MessageSection, peek: Bool, partial: FetchPartial?)
    /// `BINARY[part]<partial>` or `BINARY.PEEK[…]` (RFC 3516)
    case binary(part: [Int], peek: Bool, partial: FetchPartial?)
    /// `BINARY.SIZE[part]`
    case binarySize(part: [Int])
}

/// `<offset.length>` of a partial fetch.
public struct FetchPartial: Hashable, Sendable {
    public var offset: UInt32
    public var length: UInt32

    public init(offset: UInt32, length: UInt32) {
        self.offset = offset
        self.length = length
    }
}

/// FETCH modifiers (RFC 7162 §3.1.4.1, §3.2.6).
public struct FetchModifiers: Hashable, Sendable {
    public var changedSince: UInt64?
    public var vanished: Bool

    public init(changedSince: UInt64? = nil, vanished: Bool = false) {
        self.changedSince = changedSince
        self.vanished = vanished
    }
}

// MARK: - Encoding

extension FetchAttribute: CustomStringConvertible {
    /// The attribute as a client writes it in FETCH, e.g. `BODY.PEEK[1.2.HEADER.FIELDS (Subject)]<0.100>`.
    public var description: String {
        switch self {
        case .envelope: return "ENVELOPE"
        case .flags: return "FLAGS"
        case .internalDate: return "INTERNALDATE"
        case .rfc822Size: return "RFC822.SIZE"
        case .rfc822: return "RFC822"
        case .rfc822Header: return "RFC822.HEADER"
        case .rfc822Text: return "RFC822.TEXT"
        case .bodyStructureNonExtensible: return "BODY"
        case .bodyStructure: return "BODYSTRUCTURE"
        case .uid: return "UID"
        case .modSeq: return "MODSEQ"
        case .emailID: return "EMAILID"
        case .threadID: return "THREADID"
        case .saveDate: return "SAVEDATE"
        case .bodySection(let section, let peek, let partial):
            return (peek ? "BODY.PEEK" : "BODY") + "[\(IMAPWriter.sectionSpec(section))]" + (partial?.description ?? "")
        case .binary(let part, let peek, let partial):
            return (peek ? "BINARY.PEEK" : "BINARY") + "[\(Self.partText(part))]" + (partial?.description ?? "")
        case .binarySize(let part):
            return "BINARY.SIZE[\(Self.partText(part))]"
        }
    }

    /// `section-part`: `1.2.3`, empty for the whole message.
    static func partText(_ part: [Int]) -> String { part.map(String.init).joined(separator: ".") }
}

extension FetchPartial: CustomStringConvertible {
    /// `<offset.length>`
    public var description: String { "<\(offset).\(length)>" }
}

extension IMAPWriter {
    /// The `section-spec` between the brackets of `BODY[…]` (empty for the whole message).
    public static func sectionSpec(_ section: MessageSection) -> String {
        var text = FetchAttribute.partText(section.part)
        guard let sectionText = section.text else { return text }
        if !text.isEmpty { text += "." }
        func fieldList(_ fields: [String]) -> String {
            var buffer = ByteBuffer()
            for (index, field) in fields.enumerated() {
                if index > 0 { buffer.writeString(" ") }
                writeAString(Array(field.utf8), into: &buffer)
            }
            return "(" + String(buffer: buffer) + ")"
        }
        switch sectionText {
        case .header: text += "HEADER"
        case .headerFields(let fields): text += "HEADER.FIELDS " + fieldList(fields)
        case .headerFieldsNot(let fields): text += "HEADER.FIELDS.NOT " + fieldList(fields)
        case .text: text += "TEXT"
        case .mime: text += "MIME"
        }
        return text
    }
}

extension FetchModifiers {
    /// ` (CHANGEDSINCE n VANISHED)`, or nothing when there are none.
    func write(into buffer: inout ByteBuffer) {
        var items: [String] = []
        if let changedSince { items.append("CHANGEDSINCE \(changedSince)") }
        if vanished { items.append("VANISHED") }
        if !items.isEmpty { buffer.writeString(" (\(items.joined(separator: " ")))") }
    }
}
