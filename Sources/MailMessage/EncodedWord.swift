import MailCore

/// RFC 2047 encoded words in header text: `=?charset?B?base64?=` and `=?charset?Q?text?=`.
public enum EncodedWord {
    /// Named limit: encoded words decoded in one header value.
    public static let maxWords = 1000

    /// Decodes every encoded word in `text`; whitespace between two adjacent encoded words is
    /// dropped (RFC 2047 §6.2). Malformed words are left as they are.
    ///
    /// ```
    /// encoded-word = "=?" charset ["*" language] "?" encoding "?" encoded-text "?="   ; + RFC 2231 §5
    /// ```
    public static func decode(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var index = 0
        var pendingSpace = String.UnicodeScalarView()
        var lastWasEncoded = false
        var words = 0
        while index < scalars.count {
            if scalars[index] == "=", index + 1 < scalars.count, scalars[index + 1] == "?", words < maxWords,
                let (decoded, end) = decodeWord(scalars, at: index)
            {
                if !lastWasEncoded { out.append(contentsOf: pendingSpace) }
                pendingSpace = String.UnicodeScalarView()
                out.append(contentsOf: decoded.unicodeScalars)
                index = end
                lastWasEncoded = true
                words += 1
                continue
            }
            let c = scalars[index]
            if c == " " || c == "\t" || c == "\r" || c == "\n" {
                if c == " " || c == "\t" { pendingSpace.append(c) }
            } else {
                out.append(contentsOf: pendingSpace)
                pendingSpace = String.UnicodeScalarView()
                out.append(c)
                lastWasEncoded = false
            }
            index += 1
        }
        out.append(contentsOf: pendingSpace)
        return String(out)
    }

    /// Decodes the word starting at `start` ("=?"), returning the text and the index after "?=".
    static func decodeWord(_ s: [Unicode.Scalar], at start: Int) -> (String, Int)? {
        var i = start + 2
        var charset = ""
        while i < s.count, s[i] != "?" {
            guard s[i].isASCII, s[i] != " " else { return nil }
            charset.unicodeScalars.append(s[i])
            i += 1
        }
        guard i + 2 < s.count, s[i + 2] == "?" else { return nil }
        let encoding = String(s[i + 1]).uppercased()
        i += 3
        var payload: [UInt8] = []
        while i + 1 < s.count, !(s[i] == "?" && s[i + 1] == "=") {
            guard s[i].isASCII, s[i] != " " else { return nil }
            payload.append(UInt8(s[i].value))
            i += 1
        }
        guard i + 1 < s.count, !charset.isEmpty else { return nil }
        if let star = charset.firstIndex(of: "*") { charset = String(charset[..<star]) }  // RFC 2231 language
        let bytes: [UInt8]
        switch encoding {
        case "B":
            guard let decoded = Base64.decodeLenient(payload) else { return nil }
            bytes = decoded
        case "Q":
            bytes = quoted(payload, underscoreIsSpace: true)
        default:
            return nil
        }
        return (Charset.decode(bytes, charset: charset), i + 2)
    }

    /// Quoted-printable bytes (RFC 2045 §6.7; in headers "_" is a space, RFC 2047 §4.2).
    public static func quoted(_ input: [UInt8], underscoreIsSpace: Bool) -> [UInt8] {
        var out: [UInt8] = []
        appendQuoted(input[...], underscoreIsSpace: underscoreIsSpace, to: &out)
        return out
    }

    /// Decodes `=XX` escapes in `input` onto `out`; a malformed escape is kept as it is.
    static func appendQuoted(_ input: ArraySlice<UInt8>, underscoreIsSpace: Bool, to out: inout [UInt8]) {
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 65...70: c - 55
            case 97...102: c - 87
            default: nil
            }
        }
        var i = input.startIndex
        while i < input.endIndex {
            let c = input[i]
            if c == UInt8(ascii: "="), i + 2 < input.endIndex, let h = hex(input[i + 1]), let l = hex(input[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else if c == UInt8(ascii: "_") && underscoreIsSpace {
                out.append(UInt8(ascii: " "))
                i += 1
            } else {
                out.append(c)
                i += 1
            }
        }
    }
}
