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
        var scanner = HeaderScanner(Array(value.unicodeScalars))
        scanner.skipCFWS()
        let type = scanner.token().lowercased()
        var subtype = ""
        if scanner.consumeAfterCFWS("/") { subtype = scanner.token().lowercased() }
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
        var scanner = HeaderScanner(Array(value.unicodeScalars))
        scanner.skipCFWS()
        let first = scanner.token().lowercased()
        return (first, parseParameters(&scanner))
    }

    static func parseParameters(_ scanner: inout HeaderScanner) -> [String: String] {
        var simple: [String: String] = [:]
        var sections: [String: [Int: (value: String, encoded: Bool)]] = [:]
        while scanner.consumeAfterCFWS(";") || scanner.consumeStrayUntilSemicolon() {
            scanner.skipCFWS()
            let attribute = scanner.token().lowercased()
            guard !attribute.isEmpty, scanner.consumeAfterCFWS("=") else { continue }
            scanner.skipCFWS()
            let value = scanner.peek() == "\"" ? scanner.quoted() : scanner.token()
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

extension HeaderScanner {
    /// Consumes `c` after CFWS (RFC 2045 values allow comments between every token).
    mutating func consumeAfterCFWS(_ c: Unicode.Scalar) -> Bool {
        skipCFWS()
        return consume(c)
    }

    /// Recovers from junk between parameters by skipping to the next ";" (lenient parsing).
    mutating func consumeStrayUntilSemicolon() -> Bool {
        skipCFWS()
        guard i < s.count else { return false }
        while i < s.count, s[i] != ";" { i += 1 }
        guard i < s.count else { return false }
        i += 1
        return true
    }
}
