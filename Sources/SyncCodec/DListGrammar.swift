/// Byte classes of the dlist format, as Cyrus 3.6 reads and writes them (sync-protocol §2.2–2.3).
public enum DListGrammar {
    /// Cyrus writes strings of this length or more as literals, whatever their bytes.
    public static let maxInlineStringLength = 1024

    /// How the writer represents a string.
    public enum StringForm: Sendable {
        /// Bare, e.g. `user.alice`.
        case atom
        /// In double quotes, without escapes.
        case quoted
        /// `{n}`/`{n+}` CRLF and the bytes.
        case literal
    }

    /// Cyrus's choice for a string value (§2.2):
    ///
    /// ```
    /// ""            empty string
    /// "NIL"         the text NIL, quoted so it is not read as NIL
    /// atom          every byte an atom byte and length < 1024
    /// quoted        length < 1024, no CR, LF, NUL, DQUOTE, "%", "\" or byte >= 0x80 (TAB is fine)
    /// {n} / {n+}    everything else (NUL bytes always force a literal)
    /// ```
    public static func stringForm(_ bytes: [UInt8]) -> StringForm {
        guard bytes.count < maxInlineStringLength else { return .literal }
        if bytes.isEmpty || bytes == nilBytes { return .quoted }
        if bytes.allSatisfy(isWrittenAtomByte) { return .atom }
        if bytes.allSatisfy(isQuotableByte) { return .quoted }
        return .literal
    }

    /// The text `NIL`.
    static let nilBytes: [UInt8] = Array("NIL".utf8)

    /// A byte Cyrus's writer allows in an atom. Not allowed: 0x00–0x1E, 0x7F–0xFF, SP, `{`,
    /// `(`, `)`, `"`, `%`, `*`, `\`. (0x1F is allowed: an off-by-one in Cyrus, mirrored here so
    /// the output matches byte for byte.)
    public static func isWrittenAtomByte(_ byte: UInt8) -> Bool {
        guard byte >= 0x1F, byte < 0x7F else { return false }
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "{"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\""),
            UInt8(ascii: "%"), UInt8(ascii: "*"), UInt8(ascii: "\\"):
            return false
        default:
            return true
        }
    }

    /// A byte Cyrus's writer puts inside a quoted string (it never uses backslash escapes).
    static func isQuotableByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0, UInt8(ascii: "\r"), UInt8(ascii: "\n"), UInt8(ascii: "\""), UInt8(ascii: "%"), UInt8(ascii: "\\"):
            return false
        default:
            return byte < 0x80
        }
    }

    /// Whitespace the reader skips between elements. CR and LF end the line instead: unlike
    /// Cyrus, which reads on into the next line (§2.3), a command ends at its line end.
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == 0x09 || byte == 0x0B || byte == 0x0C
    }

    /// A byte that ends an atom on input: whitespace, CR, LF, `(`, `)` or `"` (§2.3), so `%`,
    /// `{`, `*` and `\` are tolerated inside an atom.
    static func endsAtom(_ byte: UInt8) -> Bool {
        isSpace(byte) || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "(")
            || byte == UInt8(ascii: ")") || byte == UInt8(ascii: "\"")
    }

    /// The value of a canonical decimal atom (`0`, or digits without a leading zero, that fit
    /// 64 bits), which the decoder reads as a number; nil for any other text.
    static func canonicalNumber(_ bytes: [UInt8]) -> UInt64? {
        guard let first = bytes.first, bytes.count <= 20 else { return nil }
        if first == UInt8(ascii: "0") { return bytes.count == 1 ? 0 : nil }
        return decimal(bytes)
    }

    /// Digits only, no sign, leading zeros allowed, at most 64 bits: Cyrus's num32/num64/date
    /// conversion (§2.3).
    static func decimal(_ bytes: some Collection<UInt8>) -> UInt64? {
        guard !bytes.isEmpty else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}
