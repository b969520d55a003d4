/// A parsed `Content-Type` (or `Content-Disposition`) value: a lower-cased value and its
/// parameters, with RFC 2231 continuations and charsets resolved.
///
/// ```
/// content := "Content-Type" ":" type "/" subtype *(";" parameter)       ; RFC 2045 §5.1
/// parameter := attribute "=" value ; value := token / quoted-string
/// ; RFC 2231: attribute*0*=charset'lang'%XX..., attribute*1*=..., attribute*=...
/// ```
public struct ContentType: Hashable, Sendable {
    /// `text`, `multipart`, … (lower case); `text` when missing, per RFC 2045 §5.2.
    public var type: String
    public var subtype: String
    /// Parameter names in lower case, values decoded.
    public var parameters: [String: String]

    /// Named limit: parameters kept.
    public static let maxParameters = 64

    public static let `default` = ContentType(type: "text", subtype: "plain", parameters: ["charset": "us-ascii"])

    public init(type: String, subtype: String, parameters: [String: String]) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
    }

    /// Parses a header value; a malformed type falls back to `text/plain` (RFC 2045 §5.2).
    public init(parsing value: String) {
        var scanner = Scanner(Array(value.unicodeScalars))
        scanner.skipSpaceAndComments()
        let type = scanner.token().lowercased()
        var subtype = ""
        if scanner.consume("/") { subtype = scanner.token().lowercased() }
        if type.isEmpty || subtype.isEmpty {
            self = .default
            self.parameters.merge(Self.parseParameters(&scanner)) { _, new in new }
            return
        }
        self.type = type
        self.subtype = subtype
        self.parameters = Self.parseParameters(&scanner)
    }

    /// Parses `; name=value` pairs after a value (for Content-Disposition too).
    public static func parameters(of value: String) -> (value: String, parameters: [String: String]) {
        var scanner = Scanner(Array(value.unicodeScalars))
        scanner.skipSpaceAndComments()
        let first = scanner.token().lowercased()
        return (first, parseParameters(&scanner))
    }

    static func parseParameters(_ scanner: inout Scanner) -> [String: String] {
        var simple: [String: String] = [:]
        var sections: [String: [Int: (value: String, encoded: Bool)]] = [:]
        while scanner.consume(";") || scanner.consumeStrayUntilSemicolon() {
            scanner.skipSpaceAndComments()
            let attribute = scanner.token().lowercased()
            guard !attribute.isEmpty, scanner.consume("=") else { continue }
            scanner.skipSpaceAndComments()
            let value = scanner.peek() == "\"" ? scanner.quotedString() : scanner.token()
            guard simple.count + sections.count < maxParameters else { break }
            // RFC 2231: name*N, name*N*, name*
            let parts = attribute.split(separator: "*", omittingEmptySubsequences: false)
            if parts.count >= 2 {
                let name = String(parts[0])
                let encoded = attribute.hasSuffix("*")
                let number = parts.count == 3 || (parts.count == 2 && !encoded) ? Int(parts[1]) ?? 0 : 0
                sections[name, default: [:]][number] = (value, encoded)
            } else {
                simple[attribute] = value
            }
        }
        for (name, pieces) in sections {
            var charset = "utf-8"
            var bytes: [UInt8] = []
            for number in pieces.keys.sorted() {
                let piece = pieces[number]!
                var text = piece.value
                if piece.encoded && number == 0 {
                    // charset'language'percent-encoded
                    let fields = text.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
                    if fields.count == 3 {
                        charset = fields[0].isEmpty ? "us-ascii" : String(fields[0])
                        text = String(fields[2])
                    }
                }
                bytes += piece.encoded ? percentDecoded(text) : Array(text.utf8)
            }
            simple[name] = Charset.decode(bytes, charset: charset)
        }
        return simple
    }

    static func percentDecoded(_ text: String) -> [UInt8] {
        let quotedPrintable = text.utf8.map { $0 == UInt8(ascii: "%") ? UInt8(ascii: "=") : $0 }
        return EncodedWord.quoted(quotedPrintable, underscoreIsSpace: false)
    }
}

/// A small scanner for RFC 2045 structured header values.
struct Scanner {
    let s: [Unicode.Scalar]
    var i = 0

    init(_ s: [Unicode.Scalar]) { self.s = s }

    func peek() -> Unicode.Scalar? { i < s.count ? s[i] : nil }

    mutating func consume(_ c: Unicode.Scalar) -> Bool {
        skipSpaceAndComments()
        guard peek() == c else { return false }
        i += 1
        return true
    }

    /// Recovers from junk between parameters by skipping to the next ";" (lenient parsing).
    mutating func consumeStrayUntilSemicolon() -> Bool {
        skipSpaceAndComments()
        guard i < s.count else { return false }
        while i < s.count, s[i] != ";" { i += 1 }
        guard i < s.count else { return false }
        i += 1
        return true
    }

    mutating func skipSpaceAndComments() {
        var depth = 0
        while i < s.count {
            let c = s[i]
            if c == "(" {
                depth += 1
            } else if c == ")" && depth > 0 {
                depth -= 1
            } else if depth == 0 && !(c == " " || c == "\t" || c == "\r" || c == "\n") {
                return
            }
            i += 1
        }
    }

    /// `token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>`
    mutating func token() -> String {
        skipSpaceAndComments()
        var out = String.UnicodeScalarView()
        while i < s.count {
            let c = s[i]
            if c.value <= 0x20 || c.value == 0x7f || "()<>@,;:\\\"/[]?=".unicodeScalars.contains(c) { break }
            out.append(c)
            i += 1
        }
        return String(out)
    }

    mutating func quotedString() -> String {
        guard peek() == "\"" else { return "" }
        i += 1
        var out = String.UnicodeScalarView()
        while i < s.count, s[i] != "\"" {
            if s[i] == "\\", i + 1 < s.count { i += 1 }
            out.append(s[i])
            i += 1
        }
        if i < s.count { i += 1 }
        return String(out)
    }
}
