import MailCore
import MailMessage
import NIOCore

/// A calendar date as IMAP writes it (`date-day "-" date-month "-" date-year`), no time zone.
public typealias IMAPDate = CalendarDay

/// A SEARCH criterion (RFC 9051 §6.4.4, RFC 7162 MODSEQ, RFC 5032 WITHIN, RFC 8474).
///
/// Strings stay bytes in the command's charset (``SearchCommand/charset``); the server decodes
/// them. A list of keys is `.and`.
public indirect enum SearchKey: Hashable, Sendable {
    case all
    case answered, deleted, draft, flagged, seen, recent, new, old
    case unanswered, undeleted, undraft, unflagged, unseen
    case keyword(Flag)
    case unkeyword(Flag)
    case bcc([UInt8])
    case cc([UInt8])
    case from([UInt8])
    case to([UInt8])
    case subject([UInt8])
    case body([UInt8])
    case text([UInt8])
    case header(name: String, value: [UInt8])
    case before(IMAPDate)
    case on(IMAPDate)
    case since(IMAPDate)
    case sentBefore(IMAPDate)
    case sentOn(IMAPDate)
    case sentSince(IMAPDate)
    case larger(UInt64)
    case smaller(UInt64)
    case uid(SequenceSet)
    case sequence(SequenceSet)
    /// `MODSEQ [entry-name entry-type-req] mod-sequence-valzer` (entry ignored by the search)
    case modSeq(UInt64)
    /// `OLDER n` / `YOUNGER n` seconds (RFC 5032)
    case older(UInt32)
    case younger(UInt32)
    /// `EMAILID` / `THREADID` (RFC 8474)
    case emailID(String)
    case threadID(String)
    case not(SearchKey)
    case or(SearchKey, SearchKey)
    case and([SearchKey])
}

extension SearchKey {
    /// Whether this key, or any key nested in it (NOT, OR, lists), satisfies `predicate`.
    public func contains(where predicate: (SearchKey) -> Bool) -> Bool {
        if predicate(self) { return true }
        switch self {
        case .not(let inner): return inner.contains(where: predicate)
        case .or(let a, let b): return a.contains(where: predicate) || b.contains(where: predicate)
        case .and(let keys): return keys.contains { $0.contains(where: predicate) }
        default: return false
        }
    }
}

/// ESEARCH result options (RFC 4731, RFC 5182 SAVE).
public enum SearchReturnOption: String, Hashable, Sendable {
    case min = "MIN"
    case max = "MAX"
    case all = "ALL"
    case count = "COUNT"
    case save = "SAVE"
}

/// SEARCH as sent: `SEARCH [RETURN (opts)] [CHARSET cs] keys`.
public struct SearchCommand: Hashable, Sendable {
    /// nil when the client did not say `RETURN` (plain `* SEARCH` reply); `[]` means
    /// `RETURN ()`, which is ESEARCH with ALL.
    public var returnOptions: [SearchReturnOption]?
    public var charset: String?
    public var key: SearchKey

    public init(returnOptions: [SearchReturnOption]? = nil, charset: String? = nil, key: SearchKey) {
        self.returnOptions = returnOptions
        self.charset = charset
        self.key = key
    }
}

// MARK: - Encoding

extension IMAPDate: CustomStringConvertible {
    /// `d-Mon-yyyy`, e.g. `1-Feb-2026`.
    public var description: String {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let month = (1...12).contains(month) ? months[month - 1] : "Jan"
        // date-year = 4DIGIT
        let digits = String(year)
        return "\(day)-\(month)-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}

extension SearchKey {
    /// Writes the key; a nested `.and` is parenthesised, the top-level one is not.
    func write(into buffer: inout ByteBuffer, topLevel: Bool = false) {
        func string(_ name: String, _ value: [UInt8]) {
            buffer.writeString(name + " ")
            IMAPWriter.writeAString(value, into: &buffer)
        }
        switch self {
        case .all: buffer.writeString("ALL")
        case .answered: buffer.writeString("ANSWERED")
        case .deleted: buffer.writeString("DELETED")
        case .draft: buffer.writeString("DRAFT")
        case .flagged: buffer.writeString("FLAGGED")
        case .seen: buffer.writeString("SEEN")
        case .recent: buffer.writeString("RECENT")
        case .new: buffer.writeString("NEW")
        case .old: buffer.writeString("OLD")
        case .unanswered: buffer.writeString("UNANSWERED")
        case .undeleted: buffer.writeString("UNDELETED")
        case .undraft: buffer.writeString("UNDRAFT")
        case .unflagged: buffer.writeString("UNFLAGGED")
        case .unseen: buffer.writeString("UNSEEN")
        case .keyword(let flag): buffer.writeString("KEYWORD \(flag.name)")
        case .unkeyword(let flag): buffer.writeString("UNKEYWORD \(flag.name)")
        case .bcc(let value): string("BCC", value)
        case .cc(let value): string("CC", value)
        case .from(let value): string("FROM", value)
        case .to(let value): string("TO", value)
        case .subject(let value): string("SUBJECT", value)
        case .body(let value): string("BODY", value)
        case .text(let value): string("TEXT", value)
        case .header(let name, let value):
            string("HEADER", Array(name.utf8))
            buffer.writeString(" ")
            IMAPWriter.writeAString(value, into: &buffer)
        case .before(let date): buffer.writeString("BEFORE \(date)")
        case .on(let date): buffer.writeString("ON \(date)")
        case .since(let date): buffer.writeString("SINCE \(date)")
        case .sentBefore(let date): buffer.writeString("SENTBEFORE \(date)")
        case .sentOn(let date): buffer.writeString("SENTON \(date)")
        case .sentSince(let date): buffer.writeString("SENTSINCE \(date)")
        case .larger(let size): buffer.writeString("LARGER \(size)")
        case .smaller(let size): buffer.writeString("SMALLER \(size)")
        case .uid(let set): buffer.writeString("UID \(set)")
        case .sequence(let set): buffer.writeString(set.description)
        case .modSeq(let value): buffer.writeString("MODSEQ \(value)")
        case .older(let seconds): buffer.writeString("OLDER \(seconds)")
        case .younger(let seconds): buffer.writeString("YOUNGER \(seconds)")
        case .emailID(let id): buffer.writeString("EMAILID \(id)")
        case .threadID(let id): buffer.writeString("THREADID \(id)")
        case .not(let key):
            buffer.writeString("NOT ")
            key.write(into: &buffer)
        case .or(let left, let right):
            buffer.writeString("OR ")
            left.write(into: &buffer)
            buffer.writeString(" ")
            right.write(into: &buffer)
        case .and(let keys):
            guard !keys.isEmpty else {
                buffer.writeString("ALL")
                return
            }
            if !topLevel { buffer.writeString("(") }
            for (index, key) in keys.enumerated() {
                if index > 0 { buffer.writeString(" ") }
                key.write(into: &buffer)
            }
            if !topLevel { buffer.writeString(")") }
        }
    }
}

extension SearchCommand {
    /// `[RETURN (opts) ][CHARSET cs ]keys`
    func write(into buffer: inout ByteBuffer) {
        if let returnOptions {
            buffer.writeString("RETURN (\(returnOptions.map(\.rawValue).joined(separator: " "))) ")
        }
        if let charset {
            buffer.writeString("CHARSET ")
            let bytes = Array(charset.utf8)
            if !bytes.isEmpty, bytes.allSatisfy(IMAPGrammar.isAtomChar) {
                buffer.writeBytes(bytes)
            } else {
                IMAPWriter.writeString(bytes, into: &buffer)
            }
            buffer.writeString(" ")
        }
        key.write(into: &buffer, topLevel: true)
    }
}
