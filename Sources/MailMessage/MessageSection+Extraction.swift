extension MIMEPart {
    /// The part that an IMAP part path names (RFC 9051 §6.4.5), with `self` as the message;
    /// nil when there is no such part.
    ///
    /// The empty path is the message itself. In a multipart, `n` is its n-th body part; a
    /// message whose body is not multipart has only part 1, which is the message's own body
    /// (the same entity, so `1.MIME` is the message header). Below a `message/rfc822` part,
    /// numbers count within the embedded message by the same two rules. Any other part has
    /// no sub-parts.
    ///
    /// ```
    /// section-part = nz-number *("." nz-number)
    /// ```
    public func part(at path: [Int]) -> MIMEPart? {
        var current = self
        // Only a message (the top level, or one embedded in message/rfc822) has a part 1
        // when it is not multipart.
        var isMessage = true
        for number in path {
            var container = current
            if !isMessage, let inner = current.encapsulated.first {
                container = inner
                isMessage = true
            }
            if !container.parts.isEmpty {
                guard number >= 1, number <= container.parts.count else { return nil }
                current = container.parts[number - 1]
                isMessage = false
            } else if number == 1 && isMessage {
                current = container
                isMessage = false
            } else {
                return nil
            }
        }
        return current
    }
}

extension MessageSection {
    /// The bytes `BODY[section]` returns for `message` (RFC 9051 §6.4.5), or nil when the
    /// section names a part the message does not have (the server then sends `NIL`, or an
    /// empty string, as its policy is).
    ///
    /// - `[]`: the whole message.
    /// - `HEADER`: the header including the blank line after it, as stored.
    /// - `HEADER.FIELDS (…)` / `.NOT`: the fields whose names match (ASCII case-insensitively)
    ///   or do not match, in message order, with their continuation lines, then the blank line
    ///   (left out only when the message has neither a blank line nor a body, as the RFC says).
    /// - `TEXT`: the body after the header.
    /// - `1.2`: that part's body; for a `message/rfc822` part, the whole embedded message.
    /// - `1.2.MIME`: that part's MIME header including its blank line.
    /// - `1.2.HEADER`, `1.2.HEADER.FIELDS`, `1.2.TEXT`: the embedded message of a
    ///   `message/rfc822` part; nil for any other part.
    ///
    /// Bytes are returned as they are stored: line endings are not rewritten.
    ///
    /// ```
    /// C: A1 FETCH 1 (BODY.PEEK[1.2.HEADER.FIELDS (FROM)])
    /// S: * 1 FETCH (BODY[1.2.HEADER.FIELDS (FROM)] {25}
    /// S: From: bob@example.org
    /// S:
    /// S: )
    /// ```
    public func extract(from message: [UInt8]) -> [UInt8]? {
        extract(from: message, structure: MIMEPart.parse(message))
    }

    /// Like ``extract(from:)`` with the message's structure already parsed, for a FETCH that
    /// asks for several sections or for BODYSTRUCTURE too. `structure` must be
    /// `MIMEPart.parse(message)`.
    public func extract(from message: [UInt8], structure: MIMEPart) -> [UInt8]? {
        guard let target = structure.part(at: part) else { return nil }
        guard let text else {
            return part.isEmpty ? message : Self.slice(message, target.bodyStart, target.bodyEnd)
        }
        if case .mime = text {
            guard !part.isEmpty else { return nil }
            return Self.slice(message, target.headerStart, target.bodyStart)
        }
        let embedded: MIMEPart
        if part.isEmpty {
            embedded = structure
        } else if let inner = target.encapsulated.first {
            embedded = inner
        } else {
            return nil
        }
        switch text {
        case .header:
            return Self.slice(message, embedded.headerStart, embedded.bodyStart)
        case .headerFields(let names):
            return Self.headerSubset(of: embedded, in: message, names: names, keepMatching: true)
        case .headerFieldsNot(let names):
            return Self.headerSubset(of: embedded, in: message, names: names, keepMatching: false)
        case .text:
            return Self.slice(message, embedded.bodyStart, embedded.bodyEnd)
        case .mime:
            return nil
        }
    }

    /// The section as it appears between the brackets of `BODY[…]` in a FETCH response:
    /// `""`, `TEXT`, `1.2`, `1.2.MIME`, `3.HEADER.FIELDS (FROM TO)`. Field names are written
    /// as the client asked for them, as atoms when they can be, quoted (or as a literal)
    /// otherwise.
    public var wireName: String {
        var out = part.map(String.init).joined(separator: ".")
        guard let text else { return out }
        if !out.isEmpty { out += "." }
        switch text {
        case .header: out += "HEADER"
        case .headerFields(let names): out += "HEADER.FIELDS (" + names.map(Self.astring).joined(separator: " ") + ")"
        case .headerFieldsNot(let names):
            out += "HEADER.FIELDS.NOT (" + names.map(Self.astring).joined(separator: " ") + ")"
        case .text: out += "TEXT"
        case .mime: out += "MIME"
        }
        return out
    }

    /// `message[start..<end]`, clamped so that a structure parsed from other bytes cannot trap.
    static func slice(_ message: [UInt8], _ start: Int, _ end: Int) -> [UInt8] {
        let lower = max(0, min(start, message.count))
        let upper = max(lower, min(end, message.count))
        return Array(message[lower..<upper])
    }

    /// The fields of `entity`'s header whose names are (or are not) in `names`, each as its
    /// original lines, then the delimiting blank line.
    static func headerSubset(of entity: MIMEPart, in message: [UInt8], names: [String], keepMatching: Bool) -> [UInt8] {
        let wanted = Set(names.map { asciiLowercased($0) })
        let headerBytes = slice(message, entity.headerStart, entity.bodyStart)
        // The terminator added where the header needs one follows the message's own style.
        var newline: [UInt8] = [13, 10]
        if let lf = headerBytes.firstIndex(of: 10), lf == 0 || headerBytes[lf - 1] != 13 { newline = [10] }
        var out: [UInt8] = []
        for field in entity.header.fields where wanted.contains(asciiLowercased(field.name)) == keepMatching {
            out += field.name.utf8
            out.append(UInt8(ascii: ":"))
            out += field.rawValue
            if field.rawValue.last != UInt8(ascii: "\n") { out += newline }
        }
        let hasBody = entity.bodyEnd > entity.bodyStart
        if hasBody || endsWithBlankLine(headerBytes) { out += newline }
        return out
    }

    static func endsWithBlankLine(_ header: [UInt8]) -> Bool {
        var end = header.count
        guard end > 0, header[end - 1] == UInt8(ascii: "\n") else { return false }
        end -= 1
        if end > 0, header[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return end == 0 || header[end - 1] == UInt8(ascii: "\n")
    }

    /// Field-name matching is "ASCII-range case-insensitive but otherwise exact".
    static func asciiLowercased(_ name: String) -> [UInt8] {
        name.utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }
    }

    /// `astring` (RFC 9051 §9): an atom, else a quoted string, else a literal.
    static func astring(_ name: String) -> String {
        let atomSpecials = Set("(){ %*\"\\]".utf8)
        let bytes = Array(name.utf8)
        if !bytes.isEmpty, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f && !atomSpecials.contains($0) }) { return name }
        if bytes.contains(where: { $0 == 0 || $0 == 13 || $0 == 10 }) { return "{\(bytes.count)}\r\n" + name }
        var quoted = "\""
        for character in name.unicodeScalars {
            if character == "\"" || character == "\\" { quoted += "\\" }
            quoted.unicodeScalars.append(character)
        }
        return quoted + "\""
    }
}
