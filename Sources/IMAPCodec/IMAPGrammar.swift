import MailCore
import WireCore

/// Character classes and primitive productions of RFC 9051 §9, over a complete command frame
/// (literal bodies inline, as ``IMAPFrameDecoder`` produces them).
///
/// Every `parse…` consumes a whole production or nothing (the cursor is restored on failure).
public enum IMAPGrammar {
    /// Named limits.
    public static let maxNestingDepth = 32
    public static let maxListItems = 10_000

    /// ```
    /// ATOM-CHAR = <any CHAR except atom-specials>
    /// atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
    /// ```
    public static func isAtomChar(_ c: UInt8) -> Bool {
        guard c > 0x20, c < 0x7f else { return false }
        switch c {
        case UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "{"), UInt8(ascii: "%"), UInt8(ascii: "*"),
            UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "]"):
            return false
        default:
            return true
        }
    }

    /// `ASTRING-CHAR = ATOM-CHAR / resp-specials`
    public static func isAstringChar(_ c: UInt8) -> Bool { isAtomChar(c) || c == UInt8(ascii: "]") }

    /// `tag = 1*<any ASTRING-CHAR except "+">`
    public static func isTagChar(_ c: UInt8) -> Bool { isAstringChar(c) && c != UInt8(ascii: "+") }

    /// `list-char = ATOM-CHAR / list-wildcards / resp-specials`
    public static func isListChar(_ c: UInt8) -> Bool {
        isAstringChar(c) || c == UInt8(ascii: "%") || c == UInt8(ascii: "*")
    }

    // MARK: Productions

    /// `tag = 1*<any ASTRING-CHAR except "+">`
    static func parseTag(_ cursor: inout ParseCursor) throws(IMAPParseError) -> String {
        let tag = cursor.consume(while: isTagChar)
        guard !tag.isEmpty else { throw .syntax("missing tag") }
        return String(decoding: tag, as: UTF8.self)
    }

    /// `atom = 1*ATOM-CHAR`
    static func parseAtom(_ cursor: inout ParseCursor) throws(IMAPParseError) -> String {
        let atom = cursor.consume(while: isAtomChar)
        guard !atom.isEmpty else { throw .syntax("expected an atom") }
        return String(decoding: atom, as: UTF8.self)
    }

    /// `SP`
    static func parseSpace(_ cursor: inout ParseCursor) throws(IMAPParseError) {
        guard cursor.consume(UInt8(ascii: " ")) else { throw .syntax("expected a space") }
    }

    /// ```
    /// string  = quoted / literal
    /// quoted  = DQUOTE *QUOTED-CHAR DQUOTE
    /// QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials / UTF8-2..4
    /// literal = "{" number64 ["+"] "}" CRLF *CHAR8
    /// ```
    static func parseString(_ cursor: inout ParseCursor) throws(IMAPParseError) -> [UInt8] {
        if cursor.consume(UInt8(ascii: "\"")) {
            var out: [UInt8] = []
            while true {
                guard let c = cursor.peek() else { throw .syntax("unterminated quoted string") }
                _ = cursor.consume(c)
                switch c {
                case UInt8(ascii: "\""):
                    return out
                case UInt8(ascii: "\\"):
                    guard let escaped = cursor.peek(), escaped == UInt8(ascii: "\"") || escaped == UInt8(ascii: "\\")
                    else { throw .syntax("bad escape in quoted string") }
                    _ = cursor.consume(escaped)
                    out.append(escaped)
                case 0, UInt8(ascii: "\r"), UInt8(ascii: "\n"):
                    throw .syntax("CR, LF or NUL in quoted string")
                default:
                    out.append(c)
                }
            }
        }
        let saved = cursor.position
        let binary = cursor.consume(UInt8(ascii: "~"))
        guard cursor.consume(UInt8(ascii: "{")) else {
            cursor.reset(to: saved)
            throw .syntax("expected a string")
        }
        let digits = cursor.consume(while: { $0 >= 48 && $0 <= 57 })
        _ = cursor.consume(UInt8(ascii: "+"))
        guard !digits.isEmpty, let size = Int(String(decoding: digits, as: UTF8.self)),
            cursor.consume(UInt8(ascii: "}")), cursor.consume(UInt8(ascii: "\r")), cursor.consume(UInt8(ascii: "\n")),
            cursor.remaining.count >= size
        else {
            cursor.reset(to: saved)
            throw .syntax("malformed literal")
        }
        let body = Array(cursor.remaining.prefix(size))
        if !binary && body.contains(0) {
            cursor.reset(to: saved)
            throw .syntax("NUL in a literal (use literal8)")
        }
        for _ in 0..<size { _ = cursor.consume(cursor.peek()!) }
        return body
    }

    /// `astring = 1*ASTRING-CHAR / string`
    static func parseAString(_ cursor: inout ParseCursor) throws(IMAPParseError) -> [UInt8] {
        let next = cursor.remaining.prefix(2)
        if next.first == UInt8(ascii: "\"") || next.first == UInt8(ascii: "{") || next.elementsEqual("~{".utf8) {
            return try parseString(&cursor)
        }
        let atom = cursor.consume(while: isAstringChar)
        guard !atom.isEmpty else { throw .syntax("expected an astring") }
        return Array(atom)
    }

    /// `nstring = string / nil`
    static func parseNString(_ cursor: inout ParseCursor) throws(IMAPParseError) -> [UInt8]? {
        if cursor.consume(caseInsensitive: "NIL") { return nil }
        return try parseString(&cursor)
    }

    /// `number = 1*DIGIT` (fits 32 bits); `nz-number` excludes 0.
    static func parseNumber(_ cursor: inout ParseCursor, nonZero: Bool = false) throws(IMAPParseError) -> UInt32 {
        let digits = cursor.consume(while: { $0 >= 48 && $0 <= 57 })
        guard !digits.isEmpty, digits.count <= 10, let value = UInt32(String(decoding: digits, as: UTF8.self)) else {
            throw .syntax("expected a number")
        }
        if nonZero && value == 0 { throw .syntax("expected a non-zero number") }
        return value
    }

    /// `number64 = 1*DIGIT` (RFC 9051, fits 63 bits); `mod-sequence-value` is the same range.
    static func parseNumber64(_ cursor: inout ParseCursor, nonZero: Bool = false) throws(IMAPParseError) -> UInt64 {
        let digits = cursor.consume(while: { $0 >= 48 && $0 <= 57 })
        guard !digits.isEmpty, digits.count <= 19, let value = UInt64(String(decoding: digits, as: UTF8.self)),
            value <= UInt64(Int64.max)
        else { throw .syntax("expected a 63-bit number") }
        if nonZero && value == 0 { throw .syntax("expected a non-zero number") }
        return value
    }

    /// Consumes the next atom if it equals `word` (case-insensitively) and is not followed by
    /// more atom characters; nothing otherwise.
    static func consumeKeyword(_ cursor: inout ParseCursor, _ word: String) -> Bool {
        let saved = cursor.position
        guard cursor.consume(caseInsensitive: word) else { return false }
        if let next = cursor.peek(), isAtomChar(next) {
            cursor.reset(to: saved)
            return false
        }
        return true
    }

    /// `"(" … ")"` around a non-empty, space-separated list of `element`s.
    static func parseParenthesised<T>(
        _ cursor: inout ParseCursor,
        what: String,
        _ element: (inout ParseCursor) throws(IMAPParseError) -> T
    ) throws(IMAPParseError) -> [T] {
        guard cursor.consume(UInt8(ascii: "(")) else { throw .syntax("expected ( before \(what)") }
        var items: [T] = []
        repeat {
            items.append(try element(&cursor))
            guard items.count <= maxListItems else { throw .syntax("too many \(what)") }
        } while cursor.consume(UInt8(ascii: " "))
        guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after \(what)") }
        return items
    }

    /// `flag-list` with every flag validated by `MailCore.Flag` (`\Recent` and unknown system
    /// flags are refused).
    static func parseFlags(_ cursor: inout ParseCursor) throws(IMAPParseError) -> [Flag] {
        try parseFlagList(&cursor).map { (name) throws(IMAPParseError) -> Flag in
            guard let flag = Flag(name) else { throw .syntax("invalid flag \(name)") }
            return flag
        }
    }

    /// ```
    /// date      = date-text / DQUOTE date-text DQUOTE
    /// date-text = date-day "-" date-month "-" date-year
    /// date-day  = 1*2DIGIT
    /// date-month = "Jan" / "Feb" / "Mar" / "Apr" / "May" / "Jun" / "Jul" / "Aug" / "Sep" / "Oct" / "Nov" / "Dec"
    /// date-year = 4DIGIT
    /// ```
    static func parseDate(_ cursor: inout ParseCursor) throws(IMAPParseError) -> IMAPDate {
        let saved = cursor.position
        let quoted = cursor.consume(UInt8(ascii: "\""))
        let day = cursor.consume(while: { $0 >= 48 && $0 <= 57 })
        guard (1...2).contains(day.count), let dayValue = Int(String(decoding: day, as: UTF8.self)),
            (1...31).contains(dayValue), cursor.consume(UInt8(ascii: "-"))
        else {
            cursor.reset(to: saved)
            throw .syntax("expected a date like 1-Feb-2026")
        }
        let monthText = String(decoding: cursor.consume(while: isAlpha), as: UTF8.self).lowercased()
        let dash = cursor.consume(UInt8(ascii: "-"))
        let year = cursor.consume(while: { $0 >= 48 && $0 <= 57 })
        guard let month = monthNames.firstIndex(of: monthText), dash, year.count == 4,
            let yearValue = Int(String(decoding: year, as: UTF8.self)),
            !quoted || cursor.consume(UInt8(ascii: "\""))
        else {
            cursor.reset(to: saved)
            throw .syntax("expected a date like 1-Feb-2026")
        }
        return IMAPDate(year: yearValue, month: month + 1, day: dayValue)
    }

    /// `date-month`, lower-cased for case-insensitive comparison.
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// `ALPHA` (RFC 5234).
    static func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= UInt8(ascii: "a") && (c | 0x20) <= UInt8(ascii: "z") }

    /// ```
    /// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    /// date-day-fixed = (SP DIGIT) / 2DIGIT
    /// time = 2DIGIT ":" 2DIGIT ":" 2DIGIT
    /// zone = ("+" / "-") 4DIGIT
    /// ```
    /// Returns the text between the quotes, as written.
    static func parseDateTime(_ cursor: inout ParseCursor) throws(IMAPParseError) -> String {
        let saved = cursor.position
        let text = (try? parseString(&cursor)) ?? []
        // dd-Mon-yyyy hh:mm:ss +zzzz: 26 bytes, fixed positions.
        let pattern = Array("d#-aaa-####_##:##:##_s####".utf8)
        let valid =
            text.count == pattern.count
            && zip(text, pattern).allSatisfy { c, p in
                switch p {
                case UInt8(ascii: "#"): c >= 48 && c <= 57
                case UInt8(ascii: "d"): c == 32 || (c >= 48 && c <= 57)
                case UInt8(ascii: "a"): isAlpha(c)
                case UInt8(ascii: "_"): c == 32
                case UInt8(ascii: "s"): c == UInt8(ascii: "+") || c == UInt8(ascii: "-")
                default: c == p
                }
            } && monthNames.contains(String(decoding: text[3..<6], as: UTF8.self).lowercased())
        guard valid else {
            cursor.reset(to: saved)
            throw .syntax("expected a date-time like \"17-Jul-1996 02:44:25 -0700\"")
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// ```
    /// mailbox = "INBOX" / astring      ; INBOX is case-insensitive
    /// ```
    static func parseMailbox(_ cursor: inout ParseCursor) throws(IMAPParseError) -> MailboxArgument {
        let raw = try parseAString(&cursor)
        return MailboxArgument(raw)
    }

    /// ```
    /// sequence-set = (seq-number / seq-range) ["," sequence-set]
    /// seq-range    = seq-number ":" seq-number
    /// seq-number   = nz-number / "*"
    /// ```
    /// Also `$` (RFC 5182 SEARCHRES) as the whole set.
    static func parseSequenceSet(_ cursor: inout ParseCursor) throws(IMAPParseError) -> SequenceSet {
        if cursor.consume(UInt8(ascii: "$")) { return .lastResult }
        var ranges: [SequenceRange] = []
        repeat {
            let first = try parseSeqNumber(&cursor)
            var last = first
            if cursor.consume(UInt8(ascii: ":")) { last = try parseSeqNumber(&cursor) }
            ranges.append(SequenceRange(first, last))
            guard ranges.count <= maxListItems else { throw .syntax("sequence set too long") }
        } while cursor.consume(UInt8(ascii: ","))
        return .ranges(ranges)
    }

    static func parseSeqNumber(_ cursor: inout ParseCursor) throws(IMAPParseError) -> SequenceNumber {
        if cursor.consume(UInt8(ascii: "*")) { return .last }
        return .number(try parseNumber(&cursor, nonZero: true))
    }

    /// ```
    /// flag-list = "(" [flag *(SP flag)] ")"
    /// flag      = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" / "\Draft" / flag-keyword / flag-extension
    /// ```
    static func parseFlagList(_ cursor: inout ParseCursor) throws(IMAPParseError) -> [String] {
        guard cursor.consume(UInt8(ascii: "(")) else { throw .syntax("expected a flag list") }
        var flags: [String] = []
        if cursor.consume(UInt8(ascii: ")")) { return flags }
        repeat {
            let backslash = cursor.consume(UInt8(ascii: "\\"))
            let atom = try parseAtom(&cursor)
            flags.append(backslash ? "\\" + atom : atom)
            guard flags.count <= maxListItems else { throw .syntax("too many flags") }
        } while cursor.consume(UInt8(ascii: " "))
        guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after flags") }
        return flags
    }
}

/// Why a command could not be parsed; every case becomes a `BAD` reply.
public enum IMAPParseError: Error, Hashable, Sendable {
    case syntax(String)
    case unknownCommand(String)

    public var text: String {
        switch self {
        case .syntax(let why): why
        case .unknownCommand(let name): "unknown command \(name)"
        }
    }
}
