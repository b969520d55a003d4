/// A SEARCH string, case-folded once so that it can be matched against many messages.
/// A header field name as searches compare it: as given, and ASCII-lower-cased.
public struct HeaderFieldName: Sendable {
    public let name: String
    let lowercased: [UInt8]

    public init(_ name: String) {
        self.name = name
        lowercased = MessageSection.asciiLowercased(name)
    }

    public static let from = HeaderFieldName("From")
    public static let to = HeaderFieldName("To")
    public static let cc = HeaderFieldName("Cc")
    public static let bcc = HeaderFieldName("Bcc")
    public static let subject = HeaderFieldName("Subject")
}

public struct SearchString: Hashable, Sendable {
    /// The string as the client sent it, already decoded from the command's charset.
    public let text: String
    let folded: [UInt8]

    public init(_ text: String) {
        self.text = text
        self.folded = CaseFolding.folded(text)
    }

    /// Whether the string is empty (it then matches everything it is searched in).
    public var isEmpty: Bool { folded.isEmpty }
}

/// The searchable text of one message for SEARCH's HEADER, SUBJECT, FROM, TO, CC, BCC, BODY
/// and TEXT keys (RFC 9051 §6.4.4): case-insensitive substring matching over decoded text.
///
/// Header values are unfolded and their RFC 2047 encoded words decoded. The body is every
/// `text/*` part (a message without MIME is one text part), including those of attached
/// messages (but not their headers), with its transfer encoding undone and its charset
/// converted; other parts, preambles and epilogues are skipped, and HTML is searched as it
/// stands, tags included. Each is built on first use and then kept, so build one per message and evaluate
/// the whole search key against it.
///
/// Matching folds case by Unicode's lowercase mapping: `GRÜßE` finds `grüße`, `GRÜSSE` does
/// not, and no Unicode normalization is applied.
///
/// ```
/// C: A3 SEARCH CHARSET UTF-8 SUBJECT "grüße" BODY "invoice"
/// S: * SEARCH 2 7
/// ```
///
/// Not `Sendable`: one search task owns it.
public final class MessageSearchText {
    let message: [UInt8]
    private var parsedStructure: MIMEPart?
    private var parsedHeader: MessageHeader?
    /// Each field's ASCII-lower-cased name and its folded, decoded value, in message order.
    private var foldedFields: [(name: [UInt8], value: [UInt8])]?
    /// Every field as `name: value` lines, folded, for TEXT.
    private var foldedHeader: [UInt8]?
    private var foldedBody: [UInt8]?

    /// The send date of a message built from a ``SearchHeaderSummary``.
    private var summarySentDate: CalendarDay??

    /// - Parameter structure: `MIMEPart.parse(message)` if the caller has it already.
    public init(_ message: [UInt8], structure: MIMEPart? = nil) {
        self.message = message
        self.parsedStructure = structure
        self.parsedHeader = structure?.header
    }

    /// A message known only by its summary: it answers FROM, TO, CC, BCC, SUBJECT, the
    /// SENT* keys, and HEADER for those field names; nothing else (no other field, no body).
    public init(summary: SearchHeaderSummary) {
        self.message = []
        self.foldedFields = summary.fields
        self.summarySentDate = .some(summary.sentDate)
    }

    /// What this message's SEARCH-able envelope fields are, folded, for a cache.
    public var summary: SearchHeaderSummary {
        let fields = header.fields.compactMap { field -> (name: [UInt8], value: [UInt8])? in
            let name = MessageSection.asciiLowercased(field.name)
            guard SearchHeaderSummary.fieldNames.contains(name) else { return nil }
            return (name, Self.foldedValue(field))
        }
        return SearchHeaderSummary(fields: fields, sentDate: sentDate)
    }

    /// The top-level header; parsing it does not need the MIME structure.
    public var header: MessageHeader {
        if let parsedHeader { return parsedHeader }
        let header = MessageHeader(parsing: message)
        parsedHeader = header
        return header
    }

    var structure: MIMEPart {
        if let parsedStructure { return parsedStructure }
        let structure = MIMEPart.parse(message)
        parsedStructure = structure
        parsedHeader = structure.header
        return structure
    }

    /// The calendar date of the Date field, for SENTBEFORE, SENTON and SENTSINCE.
    public var sentDate: CalendarDay? {
        if let summarySentDate { return summarySentDate }
        return header.sentDate
    }

    /// `HEADER field string`, and SUBJECT, FROM, TO, CC, BCC: whether a field of this name
    /// (ASCII case-insensitive) contains `needle` in its decoded value. An empty needle
    /// matches every message that has the field. For address fields the decoded value holds
    /// both display names and addresses, so either can be searched.
    public func headerContains(field: String, _ needle: SearchString) -> Bool {
        headerContains(HeaderFieldName(field), needle)
    }

    /// ``headerContains(field:_:)`` with the name prepared once (per SEARCH, not per message).
    public func headerContains(_ field: HeaderFieldName, _ needle: SearchString) -> Bool {
        if let foldedFields {
            return foldedFields.contains {
                $0.name == field.lowercased && CaseFolding.contains($0.value, needle.folded)
            }
        }
        // Only the named fields are decoded and folded (SEARCH FROM need not fold Received).
        return header.all(field.name).contains { CaseFolding.contains(Self.foldedValue($0), needle.folded) }
    }

    /// A field's value unfolded, RFC 2047-decoded and case-folded.
    private static func foldedValue(_ field: MessageHeader.Field) -> [UInt8] {
        var value = field.unfoldedValue
        // Only values that may hold an encoded word pay for decoding (a byte scan: String's
        // contains(String) goes through Foundation here and dominated header SEARCH).
        let mayHoldEncodedWord = value.withUTF8 { bytes in
            bytes.count >= 8
                && (0..<bytes.count - 1).contains {
                    bytes[$0] == UInt8(ascii: "=") && bytes[$0 + 1] == UInt8(ascii: "?")
                }
        }
        if mayHoldEncodedWord { value = EncodedWord.decode(value) }
        return CaseFolding.folded(value)
    }

    /// `headerContains(field:_:)` for a needle used once (a ``SearchString`` folds it once).
    public func headerContains(field: String, _ needle: String) -> Bool {
        headerContains(field: field, SearchString(needle))
    }

    /// `BODY string`: whether the decoded text of the message's text parts contains `needle`.
    public func bodyContains(_ needle: SearchString) -> Bool {
        CaseFolding.contains(body, needle.folded)
    }

    /// `bodyContains(_:)` for a needle used once (a ``SearchString`` folds it once).
    public func bodyContains(_ needle: String) -> Bool { bodyContains(SearchString(needle)) }

    /// `TEXT string`: whether the decoded header (every field, names included) or the body
    /// contains `needle`.
    public func textContains(_ needle: SearchString) -> Bool {
        CaseFolding.contains(headerText, needle.folded) || bodyContains(needle)
    }

    /// `textContains(_:)` for a needle used once (a ``SearchString`` folds it once).
    public func textContains(_ needle: String) -> Bool { textContains(SearchString(needle)) }

    // MARK: - Building the folded text

    private var fields: [(name: [UInt8], value: [UInt8])] {
        if let foldedFields { return foldedFields }
        let built = header.fields.map { field -> (name: [UInt8], value: [UInt8]) in
            (MessageSection.asciiLowercased(field.name), Self.foldedValue(field))
        }
        foldedFields = built
        return built
    }

    private var headerText: [UInt8] {
        if let foldedHeader { return foldedHeader }
        var out: [UInt8] = []
        for field in fields {
            out += field.name
            out += [UInt8(ascii: ":"), UInt8(ascii: " ")]
            out += field.value
            out.append(UInt8(ascii: "\n"))
        }
        foldedHeader = out
        return out
    }

    private var body: [UInt8] {
        if let foldedBody { return foldedBody }
        var out: [UInt8] = []
        out.reserveCapacity(message.count)
        appendText(of: structure, to: &out)
        foldedBody = out
        return out
    }

    /// Appends `bytes` in `charset`, folded; the common charsets without building a String.
    static func appendFolded(_ bytes: UnsafeBufferPointer<UInt8>, charset: String, to out: inout [UInt8]) {
        switch Charset.directDecoding(charset) {
        case .utf8: CaseFolding.appendFolded(utf8: bytes, to: &out)
        case .latin1: CaseFolding.appendFolded(latin1: bytes, windows1252: false, to: &out)
        case .windows1252: CaseFolding.appendFolded(latin1: bytes, windows1252: true, to: &out)
        case nil: CaseFolding.appendFolded(Charset.decode(bytes, charset: charset), to: &out)
        }
    }

    /// Appends the folded text of every text part in `part`, each followed by a line feed so
    /// that no match spans two parts' text.
    private func appendText(of part: MIMEPart, to out: inout [UInt8]) {
        if !part.parts.isEmpty {
            for child in part.parts { appendText(of: child, to: &out) }
            return
        }
        if let inner = part.encapsulated.first {
            appendText(of: inner, to: &out)
            return
        }
        guard part.contentType.type == "text" else { return }
        let lower = max(0, min(part.bodyStart, message.count))
        let upper = max(lower, min(part.bodyEnd, message.count))
        let charset = part.contentType.parameters["charset"] ?? "us-ascii"
        let encoding = ContentTransferEncoding(header: part.header)
        switch encoding {
        case .sevenBit, .eightBit, .binary, .unknown:
            // Undecodable text is still searched as it stands.
            message.withUnsafeBufferPointer {
                Self.appendFolded(UnsafeBufferPointer(rebasing: $0[lower..<upper]), charset: charset, to: &out)
            }
        case .base64, .quotedPrintable:
            let decoded = encoding.decode(message[lower..<upper]) ?? []
            decoded.withUnsafeBufferPointer { Self.appendFolded($0, charset: charset, to: &out) }
        }
        out.append(UInt8(ascii: "\n"))
    }
}

/// The part of a message's header that SEARCH's envelope keys read (FROM, TO, CC, BCC,
/// SUBJECT and the send date), decoded and folded once; small enough to keep for many
/// messages, so repeated header searches need neither the message nor a parse.
public struct SearchHeaderSummary: Sendable {
    /// The ASCII-lower-cased field names a summary keeps.
    public static let fieldNames: Set<[UInt8]> = Set(["from", "to", "cc", "bcc", "subject"].map { Array($0.utf8) })

    /// Each kept field's lower-cased name and folded, decoded value, in message order.
    public let fields: [(name: [UInt8], value: [UInt8])]
    public let sentDate: CalendarDay?

    /// Bytes held, roughly (for a cache's limit).
    public var size: Int { fields.reduce(64) { $0 + $1.name.count + $1.value.count + 32 } }

    /// Whether a HEADER search on `name` can be answered from a summary.
    public static func covers(field name: String) -> Bool {
        fieldNames.contains(MessageSection.asciiLowercased(name))
    }
}
