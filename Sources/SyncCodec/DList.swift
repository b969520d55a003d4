import NIOCore

/// One value of Cyrus's "dlist" data format, the payload of every csync command and response
/// data line (sync-protocol §2.1).
///
/// The wire has no typed tokens beyond atoms, quoted strings, literals, NIL, flags, lists,
/// key-value lists and file literals; numbers, dates, hex values and GUIDs are atoms that the
/// receiver interprets on demand (§2.3). The decoder reads a canonical decimal atom (no sign, no
/// leading zero, fits 64 bits) as ``number(_:)``; every other atom or quoted string is a
/// ``string(_:)``. The typed accessors (``DList/textValue``, ``DList/numberValue``, ``DList/guidValue`` …) treat
/// both alike, so a value written as `.string("12")` reads back as `.number(12)` with the same
/// meaning.
///
/// ```
/// APPLY SEEN %(USERID alice UNIQUEID m558wlrs339szh95vj1dose3 LASTUID 1 SEENUIDS 1)
///            └ kvlist: USERID → .string("alice"), LASTUID → .number(1), …
/// ```
public indirect enum DList: Hashable, Sendable {
    /// The unquoted atom `NIL`. Cyrus never sends it in sync traffic and some of its handlers
    /// crash on it where a string is required (§2.3): never send it to a Cyrus replica.
    case null
    /// A string: written as an atom, a quoted string or a literal by Cyrus's rule (§2.2).
    case string([UInt8])
    /// An unsigned number, written as plain decimal.
    case number(UInt64)
    /// A string that arrived as (or must be sent as) a literal `{n}`/`{n+}`: binary-safe.
    case literal([UInt8])
    /// A flag such as `\Seen`, written raw with its backslash; only found in `FLAGS` lists.
    case flag(String)
    /// A list `( … )` of values without keys.
    case list([DList])
    /// A key-value list `%( KEY value … )`, in wire order; lookup is first match (§2.3).
    case kvlist([Item])
    /// A file literal `%{partition guid size}`: only its header. The bytes travel beside the
    /// value: the decoder streams them as events, the writer leaves them to the caller.
    case file(FileLiteral)

    /// One `KEY value` pair: the top-level item of a command or data line, or a kvlist entry.
    public struct Item: Hashable, Sendable {
        /// The key, compared case-sensitively (Cyrus always sends upper-case atoms).
        public var key: String
        /// The value under the key.
        public var value: DList

        /// Creates a `KEY value` pair.
        public init(_ key: String, _ value: DList) {
            self.key = key
            self.value = value
        }
    }

    /// A string value from text.
    public static func string(_ text: String) -> DList { .string(Array(text.utf8)) }
}

extension DList: CustomStringConvertible {
    /// The value as it would be written by a master (non-synchronising literals inline).
    public var description: String {
        var buffer = ByteBuffer()
        write(into: &buffer, literals: .nonSynchronizing) { _ in [] }
        return String(decoding: buffer.readableBytesView, as: UTF8.self)
    }
}

// MARK: - Encoding

/// How literals are announced: the one direction-dependent detail of the encoding (§2.4).
public enum LiteralStyle: Sendable {
    /// `{n+}`: what a master (client) always sends; Cyrus replicas of the "new" literal
    /// handling crash on anything else.
    case nonSynchronizing
    /// `{n}`: what a replica (server) emits in responses; never followed by a continuation.
    case synchronizing
}

/// A piece of encoded output: bytes, or the place where a file literal's body goes.
///
/// File bodies are never copied into the encoder's buffers: the connection layer writes each
/// `.bytes` segment and streams each `.fileBody` from the message store, in order.
public enum SyncWireSegment: Hashable, Sendable {
    /// Encoded bytes, to be written as they are.
    case bytes(ByteBuffer)
    /// Exactly `file.size` octets of the message file named by `file` go here.
    case fileBody(FileLiteral)
}

extension DList {
    /// Writes the value as Cyrus 3.6 does (§2.2): strings as atom, quoted or literal by
    /// ``DListGrammar/stringForm(_:)``, numbers in decimal, lists with single spaces.
    /// Each file literal's header is followed by the bytes `fileBody` returns for it.
    public func write(
        into buffer: inout ByteBuffer,
        literals: LiteralStyle,
        fileBody: (FileLiteral) -> [UInt8]
    ) {
        var writer = DListWriter(literals: literals)
        writer.write(self)
        for segment in writer.finish() {
            switch segment {
            case .bytes(var bytes): buffer.writeBuffer(&bytes)
            case .fileBody(let file): buffer.writeBytes(fileBody(file))
            }
        }
    }
}

/// Accumulates encoded output, splitting it around file-literal bodies.
struct DListWriter {
    /// How literals are announced in this direction.
    let literals: LiteralStyle
    private var current = ByteBuffer()
    private var segments: [SyncWireSegment] = []

    /// Starts empty output in the given literal style.
    init(literals: LiteralStyle) {
        self.literals = literals
    }

    /// Appends text as it is (command words, separators, CRLF).
    mutating func writeRaw(_ text: String) { current.writeString(text) }

    /// Appends one value by Cyrus's rules.
    mutating func write(_ value: DList) {
        switch value {
        case .null: current.writeString("NIL")
        case .number(let number): current.writeString(String(number))
        case .string(let bytes): writeString(bytes)
        case .literal(let bytes): writeLiteral(bytes)
        case .flag(let name): current.writeString(name)
        case .list(let values):
            current.writeInteger(UInt8(ascii: "("))
            for (index, element) in values.enumerated() {
                if index > 0 { current.writeInteger(UInt8(ascii: " ")) }
                write(element)
            }
            current.writeInteger(UInt8(ascii: ")"))
        case .kvlist(let items):
            current.writeString("%(")
            for (index, item) in items.enumerated() {
                if index > 0 { current.writeInteger(UInt8(ascii: " ")) }
                write(item)
            }
            current.writeInteger(UInt8(ascii: ")"))
        case .file(let file):
            file.writeHeader(into: &current)
            flush()
            segments.append(.fileBody(file))
        }
    }

    /// `KEY SP value`.
    mutating func write(_ item: DList.Item) {
        writeString(Array(item.key.utf8))
        current.writeInteger(UInt8(ascii: " "))
        write(item.value)
    }

    /// Appends a string as an atom, quoted string or literal (``DListGrammar/stringForm(_:)``).
    mutating func writeString(_ bytes: [UInt8]) {
        switch DListGrammar.stringForm(bytes) {
        case .atom: current.writeBytes(bytes)
        case .quoted:
            current.writeInteger(UInt8(ascii: "\""))
            current.writeBytes(bytes)
            current.writeInteger(UInt8(ascii: "\""))
        case .literal: writeLiteral(bytes)
        }
    }

    /// Appends `{n+}`/`{n}`, CRLF and the bytes.
    mutating func writeLiteral(_ bytes: [UInt8]) {
        current.writeString(literals == .nonSynchronizing ? "{\(bytes.count)+}\r\n" : "{\(bytes.count)}\r\n")
        current.writeBytes(bytes)
    }

    private mutating func flush() {
        if current.readableBytes > 0 { segments.append(.bytes(current)) }
        current = ByteBuffer()
    }

    /// The output so far, as segments; adjacent bytes are merged.
    mutating func finish() -> [SyncWireSegment] {
        flush()
        return segments
    }
}
