import MailCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// IMAP's `date-time` (RFC 9051 §9): `"17-Jul-1996 02:44:25 -0700"`, and calendar days.
public enum IMAPDateTime {
    /// Formats in UTC, day space-padded to two characters as the grammar requires.
    public static func format(_ time: UnixTime) -> String {
        var seconds = time_t(time.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let day = parts.tm_mday < 10 ? " \(parts.tm_mday)" : "\(parts.tm_mday)"
        return "\(day)-\(RFC5322Date.months[Int(parts.tm_mon)])-\(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    /// ```
    /// date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
    /// ```
    /// Parses the text inside the quotes; nil if malformed.
    public static func parse(_ text: String) -> UnixTime? {
        let trimmed = text.trimmingPrefix(" ")
        let halves = trimmed.split(separator: " ")
        guard halves.count == 3 else { return nil }
        let date = halves[0].split(separator: "-")
        let time = halves[1].split(separator: ":")
        let zone = halves[2]
        guard date.count == 3, time.count == 3, zone.count == 5,
            let day = Int(date[0]), (1...31).contains(day),
            let month = RFC5322Date.months.firstIndex(where: { $0.lowercased() == date[1].lowercased() }),
            let year = Int(date[2]), (1900...9999).contains(year),
            let hour = Int(time[0]), (0...23).contains(hour),
            let minute = Int(time[1]), (0...59).contains(minute),
            let second = Int(time[2]), (0...60).contains(second),
            let sign = zone.first, sign == "+" || sign == "-",
            let zoneValue = Int(zone.dropFirst())
        else { return nil }
        let offset = (zoneValue / 100 * 3600 + zoneValue % 100 * 60) * (sign == "-" ? -1 : 1)
        let days = daysFromCivil(year: year, month: month + 1, day: day)
        return UnixTime(days * 86400 + hour * 3600 + minute * 60 + second - offset)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's civil algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    /// The UTC calendar day of a time, as (year, month, day).
    public static func utcDay(_ time: UnixTime) -> (year: Int, month: Int, day: Int) {
        var seconds = time_t(time.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return (Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
    }
}
