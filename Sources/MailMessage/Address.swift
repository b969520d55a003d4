/// One item of an RFC 5322 address list as IMAP's ENVELOPE needs it (RFC 9051 §7.5.2):
/// a mailbox, or the start or end marker of a group.
public enum AddressItem: Hashable, Sendable {
    /// `name <route:mailbox@host>`; text is kept raw (encoded words stay encoded, as IMAP wants).
    case mailbox(name: String?, route: String?, mailbox: String?, host: String?)
    /// `name:` starts a group (ENVELOPE: `(NIL NIL "name" NIL)`).
    case groupStart(String)
    /// `;` ends it (ENVELOPE: `(NIL NIL NIL NIL)`).
    case groupEnd
}

/// Parses RFC 5322 §3.4 address lists leniently, as mail in the wild needs.
///
/// ```
/// address-list = address *("," address)
/// address      = mailbox / group
/// mailbox      = name-addr / addr-spec
/// name-addr    = [display-name] angle-addr
/// angle-addr   = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
/// group        = display-name ":" [group-list] ";" [CFWS]
/// addr-spec    = local-part "@" domain
/// ```
public enum AddressParser {
    /// Named limit: addresses kept from one header.
    public static let maxAddresses = 1000

    public static func parse(_ text: String) -> [AddressItem] {
        var scanner = HeaderScanner(Array(text.unicodeScalars))
        var items: [AddressItem] = []
        var inGroup = false
        while !scanner.atEnd, items.count < maxAddresses {
            scanner.skipCFWS()
            if scanner.consume(",") { continue }
            if scanner.consume(";") {
                if inGroup { items.append(.groupEnd) }
                inGroup = false
                continue
            }
            // Read words until a delimiter decides what they were.
            var words: [String] = []
            while true {
                scanner.skipCFWS()
                guard let c = scanner.peek() else { break }
                if c == "\"" {
                    words.append(scanner.quoted())
                } else if c == "<" || c == "," || c == ";" || c == ":" {
                    break
                } else {
                    let word = scanner.word()
                    if word.isEmpty {
                        scanner.skipOne()
                        continue
                    }
                    words.append(word)
                }
            }
            if scanner.consume(":") {
                items.append(.groupStart(words.joined(separator: " ")))
                inGroup = true
            } else if scanner.consume("<") {
                let inside = scanner.until(">")
                _ = scanner.consume(">")
                let (route, spec) = splitRoute(inside)
                let (mailbox, host) = splitAddrSpec(spec)
                items.append(
                    .mailbox(
                        name: words.isEmpty ? nil : words.joined(separator: " "),
                        route: route,
                        mailbox: mailbox,
                        host: host
                    )
                )
            } else if !words.isEmpty {
                // A bare addr-spec; words were split at "." and "@" boundaries only by CFWS.
                let (mailbox, host) = splitAddrSpec(words.joined())
                items.append(.mailbox(name: nil, route: nil, mailbox: mailbox, host: host))
            }
        }
        if inGroup { items.append(.groupEnd) }
        return items
    }

    static func splitRoute(_ text: String) -> (String?, String) {
        guard text.hasPrefix("@"), let colon = text.firstIndex(of: ":") else { return (nil, text) }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    static func splitAddrSpec(_ spec: String) -> (String?, String?) {
        let trimmed = spec.trimmingSpaces()
        guard !trimmed.isEmpty else { return (nil, nil) }
        guard let at = trimmed.lastIndex(of: "@") else { return (trimmed, nil) }
        let local = String(trimmed[..<at])
        let host = String(trimmed[trimmed.index(after: at)...])
        return (local.isEmpty ? nil : local, host.isEmpty ? nil : host)
    }
}

extension HeaderScanner {
    /// An atom or dot-atom run (anything up to a special or white space).
    mutating func word() -> String {
        var out = String.UnicodeScalarView()
        while i < s.count {
            let c = s[i]
            if c == " " || c == "\t" || c == "\r" || c == "\n" || "()<>,;:\"[]".unicodeScalars.contains(c) {
                if c == "[" {
                    // domain-literal
                    while i < s.count, s[i] != "]" {
                        out.append(s[i])
                        i += 1
                    }
                    if i < s.count {
                        out.append(s[i])
                        i += 1
                    }
                    continue
                }
                break
            }
            out.append(c)
            i += 1
        }
        return String(out)
    }

    mutating func until(_ end: Unicode.Scalar) -> String {
        var out = String.UnicodeScalarView()
        while i < s.count, s[i] != end {
            if s[i] == "\"" {
                let text = quoted()
                out.append("\"")
                out.append(contentsOf: text.unicodeScalars)
                out.append("\"")
                continue
            }
            if !(s[i] == " " || s[i] == "\t" || s[i] == "\r" || s[i] == "\n") { out.append(s[i]) }
            i += 1
        }
        return String(out)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let c = slice.first, c == " " || c == "\t" { slice = slice.dropFirst() }
        while let c = slice.last, c == " " || c == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
