/// A cursor over an RFC 5322 / RFC 2045 structured header value: folding white space,
/// nested comments, quoted strings, tokens and words. Shared by the address, Content-Type and
/// Content-Disposition parsers; lenient, never failing.
struct HeaderScanner {
    let s: [Unicode.Scalar]
    var i = 0

    init(_ s: [Unicode.Scalar]) { self.s = s }

    var atEnd: Bool { i >= s.count }
    func peek() -> Unicode.Scalar? { i < s.count ? s[i] : nil }
    mutating func skipOne() { i += 1 }

    /// Consumes `c` if it is next, without skipping anything before it.
    mutating func consume(_ c: Unicode.Scalar) -> Bool {
        guard peek() == c else { return false }
        i += 1
        return true
    }

    /// Skips folding white space and (nested, escaped) comments: `CFWS` of RFC 5322 §3.2.2.
    mutating func skipCFWS() {
        var depth = 0
        while i < s.count {
            let c = s[i]
            if c == "(" {
                depth += 1
            } else if c == ")" && depth > 0 {
                depth -= 1
            } else if c == "\\" && depth > 0 {
                i += 1
            } else if depth == 0 && !(c == " " || c == "\t" || c == "\r" || c == "\n") {
                return
            }
            i += 1
        }
    }

    /// `quoted-string`, unescaped, CR and LF dropped; empty when none is next.
    mutating func quoted() -> String {
        guard consume("\"") else { return "" }
        var out = String.UnicodeScalarView()
        while i < s.count, s[i] != "\"" {
            if s[i] == "\\", i + 1 < s.count { i += 1 }
            if s[i] != "\r" && s[i] != "\n" { out.append(s[i]) }
            i += 1
        }
        if i < s.count { i += 1 }
        return String(out)
    }

    /// RFC 2045 `token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>`, after CFWS.
    mutating func token() -> String {
        skipCFWS()
        var out = String.UnicodeScalarView()
        while i < s.count {
            let c = s[i]
            if c.value <= 0x20 || c.value == 0x7f || "()<>@,;:\\\"/[]?=".unicodeScalars.contains(c) { break }
            out.append(c)
            i += 1
        }
        return String(out)
    }
}
