/// The BODYSTRUCTURE of a message part (RFC 9051 §7.5.2), computed from its ``MIMEPart``.
public indirect enum BodyStructure: Hashable, Sendable {
    case single(SinglePart)
    case multipart(
        parts: [BodyStructure],
        subtype: String,
        parameters: [(String, String)],
        disposition: Disposition?,
        language: [String]?,
        location: String?
    )

    /// A non-multipart part. `text/*` carries `lines`; `message/rfc822` carries the inner
    /// envelope, structure and lines.
    public struct SinglePart: Hashable, Sendable {
        public var type: String
        public var subtype: String
        public var parameters: [(String, String)]
        public var id: String?
        public var description: String?
        public var encoding: String
        public var octets: Int
        public var lines: Int?
        public var message: (envelope: Envelope, body: BodyStructure)?
        public var md5: String?
        public var disposition: Disposition?
        public var language: [String]?
        public var location: String?

        public static func == (a: SinglePart, b: SinglePart) -> Bool {
            a.type == b.type && a.subtype == b.subtype && a.parameters.elementsEqual(b.parameters, by: ==)
                && a.id == b.id
                && a.description == b.description && a.encoding == b.encoding && a.octets == b.octets
                && a.lines == b.lines
                && a.message?.envelope == b.message?.envelope && a.message?.body == b.message?.body && a.md5 == b.md5
                && a.disposition == b.disposition && a.language == b.language && a.location == b.location
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(type)
            hasher.combine(subtype)
            hasher.combine(octets)
        }
    }

    /// `Content-Disposition`: the value and its parameters.
    public struct Disposition: Hashable, Sendable {
        public var value: String
        public var parameters: [String]

        public init(value: String, parameters: [String]) {
            self.value = value
            self.parameters = parameters
        }
    }

    /// Builds the structure of `part`, whose byte ranges refer to `message`.
    public init(_ part: MIMEPart, in message: [UInt8]) {
        let header = part.header
        let disposition = header.first("Content-Disposition").map { field -> Disposition in
            let (value, _, imap) = ContentType.parameters(of: field.unfoldedValue)
            return Disposition(value: value.uppercased(), parameters: imap.flatMap { [$0.0, $0.1] })
        }
        let language = header.first("Content-Language").map {
            $0.unfoldedValue.split(separator: ",").map { $0.trimmingCharacters().uppercased() }
        }
        let location = header.first("Content-Location")?.unfoldedValue
        if part.contentType.type == "multipart", !part.parts.isEmpty {
            self = .multipart(
                parts: part.parts.map { BodyStructure($0, in: message) },
                subtype: part.contentType.subtype.uppercased(),
                parameters: part.contentType.imapParameters,
                disposition: disposition,
                language: language,
                location: location
            )
            return
        }
        let body = message[part.bodyStart..<part.bodyEnd]
        var single = SinglePart(
            type: part.contentType.type.uppercased(),
            subtype: part.contentType.subtype.uppercased(),
            parameters: part.contentType.imapParameters,
            id: header.first("Content-ID")?.unfoldedValue,
            description: header.first("Content-Description")?.unfoldedValue,
            encoding: (header.first("Content-Transfer-Encoding")?.unfoldedValue.uppercased()).flatMap {
                $0.isEmpty ? nil : $0
            }
                ?? "7BIT",
            octets: body.count,
            lines: nil,
            message: nil,
            md5: header.first("Content-MD5")?.unfoldedValue,
            disposition: disposition,
            language: language,
            location: location
        )
        if let inner = part.encapsulated.first {
            single.message = (Envelope(header: inner.header), BodyStructure(inner, in: message))
        }
        // body-fld-lines: text parts and encapsulated messages only (RFC 9051 §9).
        if part.contentType.type == "text" || single.message != nil {
            // Lines are counted as Cyrus counts them: line feeds; an unterminated last line is not one.
            single.lines = body.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        }
        self = .single(single)
    }

    public static func == (a: BodyStructure, b: BodyStructure) -> Bool {
        switch (a, b) {
        case (.single(let x), .single(let y)): return x == y
        case (
            .multipart(let p1, let s1, let m1, let d1, let l1, let o1),
            .multipart(let p2, let s2, let m2, let d2, let l2, let o2)
        ):
            return p1 == p2 && s1 == s2 && m1.elementsEqual(m2, by: ==) && d1 == d2 && l1 == l2 && o1 == o2
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .single(let part): hasher.combine(part)
        case .multipart(let parts, let subtype, _, _, _, _):
            hasher.combine(parts)
            hasher.combine(subtype)
        }
    }
}

extension Substring {
    func trimmingCharacters() -> String {
        var slice = self
        while let c = slice.first, c == " " || c == "\t" { slice = slice.dropFirst() }
        while let c = slice.last, c == " " || c == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
