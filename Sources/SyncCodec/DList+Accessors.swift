import MailCore

/// Typed reads of dlist values, converting on demand as Cyrus does (sync-protocol §2.3).
/// A value that does not convert reads as nil, which a handler treats as "absent" (Cyrus then
/// answers `NO IMAP_PROTOCOL_BAD_PARAMETERS` for a mandatory field).
extension DList {
    /// The bytes of a string, number (its decimal text) or literal; nil for anything else.
    public var bytesValue: [UInt8]? {
        switch self {
        case .string(let bytes), .literal(let bytes): bytes
        case .number(let number): Array(String(number).utf8)
        default: nil
        }
    }

    /// The text of a string, number or literal, if it is valid UTF-8 without NUL bytes
    /// (Cyrus's *atom/string* conversion rejects NUL).
    public var textValue: String? {
        guard let bytes = bytesValue, !bytes.contains(0) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// A number from decimal text: digits only, no sign, at most 64 bits (*num64*, *date*).
    public var numberValue: UInt64? {
        if case .number(let number) = self { return number }
        guard case .string(let bytes) = self else {
            if case .literal(let bytes) = self { return DListGrammar.decimal(bytes) }
            return nil
        }
        return DListGrammar.decimal(bytes)
    }

    /// A *num32* field. Cyrus silently truncates larger values; this reads them as nil instead.
    public var number32Value: UInt32? { numberValue.flatMap { UInt32(exactly: $0) } }

    /// A *guid* field: exactly 40 hex digits, either case.
    public var guidValue: MessageGUID? { textValue.flatMap { MessageGUID(hex: $0) } }

    /// The elements of a list.
    public var listValue: [DList]? {
        if case .list(let values) = self { return values }
        return nil
    }

    /// The entries of a key-value list.
    public var kvlistValue: [Item]? {
        if case .kvlist(let items) = self { return items }
        return nil
    }

    /// The header of a file literal.
    public var fileValue: FileLiteral? {
        if case .file(let file) = self { return file }
        return nil
    }

    /// The first value under `key` in a key-value list (exact, case-sensitive match; §2.3).
    public subscript(key: String) -> DList? {
        kvlistValue?.first(where: { $0.key == key })?.value
    }

    /// `self[key]?.textValue`.
    public func text(for key: String) -> String? { self[key]?.textValue }
    /// `self[key]?.numberValue`.
    public func number(for key: String) -> UInt64? { self[key]?.numberValue }
    /// `self[key]?.number32Value`.
    public func number32(for key: String) -> UInt32? { self[key]?.number32Value }
    /// `self[key]?.guidValue`.
    public func guid(for key: String) -> MessageGUID? { self[key]?.guidValue }
    /// `self[key]?.listValue`.
    public func list(for key: String) -> [DList]? { self[key]?.listValue }
    /// `self[key]?.kvlistValue`.
    public func kvlist(for key: String) -> [Item]? { self[key]?.kvlistValue }
}
