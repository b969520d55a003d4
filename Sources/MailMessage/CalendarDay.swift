/// A calendar date without time or zone: what SENTBEFORE, SENTON and SENTSINCE compare
/// (RFC 9051 §6.4.4: the Date header "disregarding time and timezone").
public struct CalendarDay: Hashable, Sendable, Comparable {
    /// The year with its century, as obsolete two-digit years are read (RFC 5322 §4.3).
    public var year: Int
    /// 1–12.
    public var month: Int
    /// 1–31, as written (not checked against the month's length).
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public static func < (a: CalendarDay, b: CalendarDay) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    /// Named limit: characters of a Date value looked at.
    static let maxLength = 200

    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// The date part of an RFC 5322 `date-time` as written, in the header's own time zone;
    /// nil when there is none.
    ///
    /// ```
    /// date-time   = [ day-of-week "," ] date time [CFWS]
    /// date        = day month year
    /// obs-year    = [CFWS] 2*DIGIT [CFWS]    ; 00-49 → 20xx, 50-99 → 19xx, 3 digits + 1900 (§4.3)
    /// ```
    /// Lenient as mail in the wild needs: comments, a missing or misspelt day of week,
    /// `23-Nov-2026`, full month names and the asctime order `Mon Nov 23 14:26:15 2026`.
    ///
    /// This is a second RFC 5322 date reader beside ServerSupport's RFC5322Date (which only
    /// formats, and which MailMessage cannot import).
    public init?(rfc5322DateTime value: String) {
        var tokens: [Substring] = []
        var depth = 0
        var current = ""
        for character in value.prefix(Self.maxLength) {
            if character == "(" {
                depth += 1
            } else if character == ")" && depth > 0 {
                depth -= 1
            } else if depth == 0 && character.isASCII && (character.isLetter || character.isNumber || character == ":")
            {
                current.append(character)
                continue
            }
            if !current.isEmpty { tokens.append(Substring(current)) }
            current = ""
        }
        if !current.isEmpty { tokens.append(Substring(current)) }
        var index = 0
        if index < tokens.count, Self.dayNames.contains(tokens[index].prefix(3).lowercased()),
            Self.month(tokens[index]) == nil
        {
            index += 1
        }
        guard index + 2 < tokens.count else { return nil }
        let day: Int
        let month: Int
        var yearToken: Substring
        if let number = Self.number(tokens[index]), let name = Self.month(tokens[index + 1]) {
            (day, month, yearToken) = (number, name, tokens[index + 2])
        } else if let name = Self.month(tokens[index]), let number = Self.number(tokens[index + 1]) {
            // asctime: month day time year
            (day, month) = (number, name)
            index += 2
            while index < tokens.count, tokens[index].contains(":") { index += 1 }
            guard index < tokens.count else { return nil }
            yearToken = tokens[index]
        } else {
            return nil
        }
        guard var year = Self.number(yearToken), (1...31).contains(day) else { return nil }
        switch yearToken.count {
        case 2: year += year < 50 ? 2000 : 1900
        case 3: year += 1900
        case 4: break
        default: return nil
        }
        self.init(year: year, month: month, day: day)
    }

    static func number(_ token: Substring) -> Int? {
        guard token.count <= 4, token.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(token)
    }

    /// 1–12 for a month name (its first three letters, any case).
    static func month(_ token: Substring) -> Int? {
        guard token.count >= 3, token.allSatisfy(\.isLetter) else { return nil }
        return monthNames.firstIndex(of: token.prefix(3).lowercased()).map { $0 + 1 }
    }
}

extension MessageHeader {
    /// The calendar date of the first `Date` field, for SENTBEFORE/SENTON/SENTSINCE; nil when
    /// there is none or it cannot be read (RFC 9051 leaves that case to the server).
    public var sentDate: CalendarDay? {
        first("Date").flatMap { CalendarDay(rfc5322DateTime: $0.unfoldedValue) }
    }
}
