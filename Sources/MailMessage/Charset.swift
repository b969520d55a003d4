import Foundation

/// Decodes text in a MIME charset to a String.
///
/// UTF-8, US-ASCII and ISO-8859-1 are handled directly; windows-1252 by its table; other
/// charsets through Foundation where it knows them. Unknown charsets and invalid bytes never
/// fail: they decode as UTF-8 with replacement characters, which is what SEARCH and display
/// need (RFC 9051 §6.4.4 leaves undecodable text to the server's judgement).
public enum Charset {
    public static func decode(_ bytes: some Collection<UInt8>, charset: String) -> String {
        let name = charset.lowercased().trimmingCharacters(in: .whitespaces)
        switch directDecoding(name) {
        case .utf8:
            return String(decoding: bytes, as: UTF8.self)
        case .latin1:
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        case .windows1252:
            return String(String.UnicodeScalarView(bytes.map { windows1252($0) }))
        case nil:
            if let encoding = foundationEncoding(name), let text = String(data: Data(bytes), encoding: encoding) {
                return text
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// The charsets decoded here rather than by Foundation.
    enum Direct {
        /// UTF-8, and US-ASCII (a subset; 8-bit bytes in it are most often UTF-8 in practice).
        case utf8
        case latin1
        case windows1252
    }

    /// How `charset` is decoded when it is one of the ``Direct`` ones, so that callers with
    /// their own fast paths (SEARCH's case folding) agree with ``decode(_:charset:)``.
    static func directDecoding(_ charset: String) -> Direct? {
        switch charset.lowercased().trimmingCharacters(in: .whitespaces) {
        case "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968", "": .utf8
        case "iso-8859-1", "latin1", "iso_8859-1", "l1": .latin1
        case "windows-1252", "cp1252": .windows1252
        default: nil
        }
    }

    static func foundationEncoding(_ name: String) -> String.Encoding? {
        switch name {
        case "iso-8859-2", "latin2": .isoLatin2
        case "windows-1250", "cp1250": .windowsCP1250
        case "windows-1251", "cp1251": .windowsCP1251
        case "windows-1253", "cp1253": .windowsCP1253
        case "windows-1254", "cp1254": .windowsCP1254
        case "shift_jis", "shift-jis", "sjis": .shiftJIS
        case "euc-jp": .japaneseEUC
        case "iso-2022-jp": .iso2022JP
        case "utf-16": .utf16
        case "utf-16be": .utf16BigEndian
        case "utf-16le": .utf16LittleEndian
        default: nil
        }
    }

    /// windows-1252 differs from ISO-8859-1 only in 0x80–0x9F.
    static func windows1252(_ byte: UInt8) -> Unicode.Scalar {
        let high: [UInt32] = [
            0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,
            0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A,
            0x0153, 0x9D, 0x017E, 0x0178,
        ]
        if byte >= 0x80 && byte <= 0x9F { return Unicode.Scalar(high[Int(byte - 0x80)])! }
        return Unicode.Scalar(byte)
    }
}
