/// The header section of an RFC 5322 message, split into fields, over raw bytes.
///
/// ```
/// header-section = *field CRLF
/// field          = field-name ":" unstructured CRLF    ; continuation lines start with WSP
/// field-name     = 1*ftext                              ; %d33-57 / %d59-126
/// ```
/// Parsing is lenient as mail in the wild requires: bare LF is accepted, a line without a
/// colon ends the header section, 8-bit bytes are kept as they are. The header section stops at
/// the first empty line; ``bodyOffset`` is where the body starts.
public struct MessageHeader: Sendable {
    /// One header field with its name as written and its raw (still folded) value bytes.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var rawValue: [UInt8]

        /// The value unfolded (CRLF before whitespace removed) and trimmed, decoded as UTF-8
        /// with invalid bytes replaced.
        public var unfoldedValue: String {
            var out: [UInt8] = []
            out.reserveCapacity(rawValue.count)
            for byte in rawValue where byte != UInt8(ascii: "\r") && byte != UInt8(ascii: "\n") {
                out.append(byte)
            }
            var slice = out[...]
            while let first = slice.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                slice = slice.dropFirst()
            }
            while let last = slice.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
                slice = slice.dropLast()
            }
            return String(decoding: slice, as: UTF8.self)
        }
    }

    public private(set) var fields: [Field] = []
    /// Byte offset of the body (after the blank line), or the message length if there is none.
    public private(set) var bodyOffset: Int

    /// Named limit: header fields kept; further fields are skipped, though the header still
    /// ends at its blank line.
    public static let maxFields = 10_000

    public init(parsing bytes: some Collection<UInt8>) {
        // Arrays and their slices are read in place: a part's header must not cost a copy of
        // its body.
        if let slice = bytes as? ArraySlice<UInt8> {
            self.init(slice: slice)
        } else if let array = bytes as? [UInt8] {
            self.init(slice: array[...])
        } else {
            self.init(slice: Array(bytes)[...])
        }
    }

    init(slice data: ArraySlice<UInt8>) {
        var index = data.startIndex
        var current: (name: String, value: [UInt8])?
        bodyOffset = data.count
        while index < data.endIndex {
            var end = index
            while end < data.endIndex, data[end] != UInt8(ascii: "\n") { end += 1 }
            let next = min(end + 1, data.endIndex)
            var lineEnd = end
            if lineEnd > index, data[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            if lineEnd == index {
                bodyOffset = next - data.startIndex
                break
            }
            let first = data[index]
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t"), current != nil {
                current!.value += data[index..<next]
            } else if let colon = data[index..<lineEnd].firstIndex(of: UInt8(ascii: ":")), colon > index,
                data[index..<colon].allSatisfy({ $0 >= 33 && $0 <= 126 })
            {
                if let done = current, fields.count < Self.maxFields {
                    fields.append(Field(name: done.name, rawValue: done.value))
                }
                current = (String(decoding: data[index..<colon], as: UTF8.self), Array(data[(colon + 1)..<next]))
            } else {
                // Not a header line: the header section has ended without a blank line.
                bodyOffset = index - data.startIndex
                break
            }
            index = next
        }
        if let done = current, fields.count < Self.maxFields {
            fields.append(Field(name: done.name, rawValue: done.value))
        }
    }

    /// The first field with this name (case-insensitive).
    public func first(_ name: String) -> Field? {
        let lower = name.lowercased()
        return fields.first { $0.name.lowercased() == lower }
    }

    /// Every field with this name, in order.
    public func all(_ name: String) -> [Field] {
        // Field names are ASCII (RFC 5322 ftext): compare bytes, case-folded, without
        // building lower-cased Strings per field.
        func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5a ? byte | 0x20 : byte }
        let wanted = name.utf8.map(lower)
        return fields.filter { field in
            let utf8 = field.name.utf8
            return utf8.count == wanted.count && zip(utf8, wanted).allSatisfy { lower($0) == $1 }
        }
    }
}
