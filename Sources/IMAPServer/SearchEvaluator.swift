import IMAPCodec
import MailCore
import MailMessage
import ServerSupport

/// Evaluates SEARCH keys against messages of the selected mailbox (RFC 9051 §6.4.4).
///
/// Criteria on index data (flags, UIDs, sizes, dates, modseqs) never read the message; the
/// text criteria read it once per message, decoded (MIME, RFC 2047, charsets) by
/// `MessageSearchText`.
struct SearchEvaluator {
    /// Search strings decoded from the command's charset.
    let charset: String
    let savedSearch: UIDSet
    let now: UnixTime
    let view: SelectedMailbox

    /// The charsets a client may name in SEARCH CHARSET.
    static let supportedCharsets: Set<String> = ["UTF-8", "US-ASCII", "ISO-8859-1", "WINDOWS-1252"]

    /// Whether `key` needs the message body (not just its header).
    static func needsBody(_ key: SearchKey) -> Bool {
        key.contains {
            switch $0 {
            case .body, .text: true
            default: false
            }
        }
    }

    /// Whether `key` needs the message's bytes.
    static func needsMessage(_ key: SearchKey) -> Bool {
        key.contains {
            switch $0 {
            case .bcc, .cc, .from, .to, .subject, .body, .text, .header, .sentBefore, .sentOn, .sentSince: true
            default: false
            }
        }
    }

    /// Whether every message criterion of `key` is answered by a ``SearchHeaderSummary``
    /// (FROM, TO, CC, BCC, SUBJECT, SENT*, HEADER on those fields).
    static func answeredBySummary(_ key: SearchKey) -> Bool {
        !key.contains {
            switch $0 {
            case .body, .text: true
            case .header(let name, _): !SearchHeaderSummary.covers(field: name)
            default: false
            }
        }
    }

    /// Search strings decoded and case-folded once per SEARCH, not once per message.
    final class Needles {
        var cache: [[UInt8]: SearchString] = [:]
        var last: (bytes: [UInt8], needle: SearchString)?
    }

    let needles = Needles()

    func text(_ bytes: [UInt8]) -> SearchString {
        // The same key's bytes come back for every message: the same array, so comparing
        // with the last one is a pointer check, cheaper than hashing them.
        if let last = needles.last, last.bytes == bytes { return last.needle }
        let needle = needles.cache[bytes] ?? SearchString(Charset.decode(bytes, charset: charset))
        needles.cache[bytes] = needle
        needles.last = (bytes, needle)
        return needle
    }

    /// Whether message `seq` matches; `message` is nil unless ``needsMessage(_:)`` said so.
    func matches(_ key: SearchKey, seq: Int, message: MessageSearchText?) -> Bool {
        let entry = view.entry(at: seq)
        switch key {
        case .all: return true
        case .answered: return entry.flags.contains(.answered)
        case .deleted: return entry.flags.contains(.deleted)
        case .draft: return entry.flags.contains(.draft)
        case .flagged: return entry.flags.contains(.flagged)
        case .seen: return entry.flags.contains(.seen)
        case .recent, .new: return false
        case .old: return true
        case .unanswered: return !entry.flags.contains(.answered)
        case .undeleted: return !entry.flags.contains(.deleted)
        case .undraft: return !entry.flags.contains(.draft)
        case .unflagged: return !entry.flags.contains(.flagged)
        case .unseen: return !entry.flags.contains(.seen)
        case .keyword(let flag): return entry.flags.contains(flag)
        case .unkeyword(let flag): return !entry.flags.contains(flag)
        case .larger(let size): return entry.size > Int64(clamping: size)
        case .smaller(let size): return entry.size < Int64(clamping: size)
        case .modSeq(let modseq): return entry.modSeq.rawValue >= modseq
        case .older(let seconds): return entry.internalDate <= now - Double(seconds)
        case .younger(let seconds): return entry.internalDate >= now - Double(seconds)
        case .emailID(let id): return "M" + entry.guid.hex.prefix(24) == id
        case .threadID: return false
        case .before(let date): return Self.day(entry.internalDate) < date
        case .on(let date): return Self.day(entry.internalDate) == date
        case .since(let date): return Self.day(entry.internalDate) >= date
        case .sentBefore(let date): return message?.sentDate.map { Self.date($0) < date } ?? false
        case .sentOn(let date): return message?.sentDate.map { Self.date($0) == date } ?? false
        case .sentSince(let date): return message?.sentDate.map { Self.date($0) >= date } ?? false
        case .uid(let set):
            if case .lastResult = set { return savedSearch.contains(entry.uid) }
            return set.resolved(largest: view.largestUID)?.contains(entry.uid) ?? false
        case .sequence(let set):
            if case .lastResult = set { return savedSearch.contains(entry.uid) }
            return set.resolved(largest: UInt32(view.count))?.contains(UID(UInt32(seq))) ?? false
        case .from(let value): return message?.headerContains(.from, text(value)) ?? false
        case .to(let value): return message?.headerContains(.to, text(value)) ?? false
        case .cc(let value): return message?.headerContains(.cc, text(value)) ?? false
        case .bcc(let value): return message?.headerContains(.bcc, text(value)) ?? false
        case .subject(let value): return message?.headerContains(.subject, text(value)) ?? false
        case .header(let name, let value): return message?.headerContains(field: name, text(value)) ?? false
        case .body(let value): return message?.bodyContains(text(value)) ?? false
        case .text(let value): return message?.textContains(text(value)) ?? false
        case .not(let inner): return !matches(inner, seq: seq, message: message)
        case .or(let a, let b): return matches(a, seq: seq, message: message) || matches(b, seq: seq, message: message)
        case .and(let keys): return keys.allSatisfy { matches($0, seq: seq, message: message) }
        }
    }

    static func day(_ time: UnixTime) -> IMAPDate {
        let (year, month, day) = IMAPDateTime.utcDay(time)
        return IMAPDate(year: year, month: month, day: day)
    }

    static func date(_ sent: CalendarDay) -> IMAPDate { sent }
}
