/// A parsed `Content-Type` (or `Content-Disposition`) value: a lower-cased value and its
/// parameters, with RFC 2231 continuations and charsets resolved.
///
/// ```
/// content := "Content-Type" ":" type "/" subtype *(";" parameter)       ; RFC 2045 §5.1
/// parameter := attribute "=" value ; value := token / quoted-string
/// ; RFC 2231: attribute*0*=charset'lang'%XX..., attribute*1*=..., attribute*=...
/// ```
public struct ContentType: Sendable {
    /// `text`, `multipart`, … (lower case); `text` when missing, per RFC 2045 §5.2.
    public var type: String
    public var subtype: String
    /// Parameter names in lower case, values decoded.
    public var parameters: [String: String]
    /// The parameters as IMAP's BODYSTRUCTURE shows them (Cyrus's form): RFC 2231 sections of
    /// one parameter joined, an encoded one kept encoded as `NAME*` = `charset'lang'%XX…` so
    /// the structure stays 7-bit; names upper-cased, sorted.
    public var imapParameters: [(String, String)] = []

    /// Named limit: parameters kept.
    public static let maxParameters = 64

    public static let `default` = ContentType(type: "text", subtype: "plain", parameters: ["charset": "us-ascii"])

    public init(type: String, subtype: String, parameters: [String: String]) {
        self.type = type
        self.subtype = subtype
        self.parameters = parameters
        self.imapParameters = parameters.sorted { $0.key < $1.key }.map { ($0.key.uppercased(), $0.value) }
    }

    /// Parses a header value; a malformed type falls back to `text/plain` (RFC 2045 §5.2).
    public init(parsing value: String) {
        var scanner = HeaderScanner(Array(value.unicodeScalars))
        scanner.skipCFWS()
        let type = scanner.token().lowercased()
        var subtype = ""
        if scanner.consumeAfterCFWS("/") { subtype = scanner.token().lowercased() }
        let parsed = Self.parseParameters(&scanner)
        if type.isEmpty || subtype.isEmpty {
            self = .default
            self.parameters.merge(parsed.decoded) { _, new in new }
            self.imapParameters = parsed.imap
            return
        }
        self.type = type
        self.subtype = subtype
        self.parameters = parsed.decoded
        self.imapParameters = parsed.imap
    }

    /// Parses `; name=value` pairs after a value (for Content-Disposition too).
    public static func parameters(
        of value: String
    ) -> (value: String, parameters: [String: String], imap: [(String, String)]) {
        var scanner = HeaderScanner(Array(value.unicodeScalars))
        scanner.skipCFWS()
        let first = scanner.token().lowercased()
        let parsed = parseParameters(&scanner)
        return (first, parsed.decoded, parsed.imap)
    }

    static func parseParameters(_ scanner: inout HeaderScanner) -> (decoded: [String: String], imap: [(String, String)])
    {
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
        var imap = simple.map { ($0.key, $0.value) }
        for (name, pieces) in sections {
            var charset = "utf-8"
            var bytes: [UInt8] = []
            // IMAP form: joined sections; kept RFC 2231-encoded when any section was encoded.
            let anyEncoded = pieces.values.contains { $0.encoded }
            var joined = ""
            for number in pieces.keys.sorted() {
                let piece = pieces[number]!
                joined += piece.encoded || !anyEncoded ? piece.value : Self.percentEncoded(piece.value)
            }
            imap.append((anyEncoded ? name + "*" : name, joined))
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
        return (simple, imap.sorted { $0.0 < $1.0 }.map { ($0.0.uppercased(), $0.1) })
    }

    /// RFC 2231 §4 percent-encoding of a plain section joined to encoded ones.
    static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let safe =
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || "!#$&+-.^_`|~".utf8.contains(byte)
            if safe {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 15)]], as: UTF8.self)
            }
        }
        return out
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

extension ContentType: Equatable {
    public static func == (a: ContentType, b: ContentType) -> Bool {
        a.type == b.type && a.subtype == b.subtype && a.parameters == b.parameters
            && a.imapParameters.elementsEqual(b.imapParameters, by: ==)
    }
}
