import MailCore
import NIOCore
import WireCore

/// The header of a file literal, `%{partition guid size}`, which uploads one message file
/// (sync-protocol §2.5). Its bytes are not part of the value.
///
/// ```
/// C: APPLY MESSAGE (%{default 6cde83a0be6945226dc22cf647c994d66bfb80cc 111}
/// C: <111 octets of the message> )
/// ```
///
/// The GUID is kept as sent: Cyrus does not check it at upload time (the replica checks the
/// SHA-1 when an `APPLY MAILBOX` uses the file), so a malformed one is not a framing error.
public struct FileLiteral: Hashable, Sendable {
    /// The partition the file is staged under; must be configured on a Cyrus replica.
    public var partition: String
    /// The GUID text as sent; see ``messageGUID`` for the parsed form.
    public var guidText: String
    /// The number of octets that follow the header's CRLF (Cyrus reads it as a uint32).
    public var size: UInt32

    /// A header with the GUID as text (as received).
    public init(partition: String, guidText: String, size: UInt32) {
        self.partition = partition
        self.guidText = guidText
        self.size = size
    }

    /// A header for a message file of `size` bytes whose SHA-1 is `guid`.
    public init(partition: String, guid: MessageGUID, size: UInt32) {
        self.init(partition: partition, guidText: guid.hex, size: size)
    }

    /// The GUID, if the text is exactly 40 hex digits.
    public var messageGUID: MessageGUID? { MessageGUID(hex: guidText) }

    /// Parses the inside of the braces.
    ///
    /// ```
    /// file-header = astring SP astring SP number      ; partition, GUID, size (uint32)
    /// astring     = 1*atom-byte / quoted
    /// ```
    static func parseHeader(_ bytes: [UInt8]) -> FileLiteral? {
        var cursor = ParseCursor(bytes)
        guard let partition = parseAString(&cursor), cursor.consume(UInt8(ascii: " ")),
            let guid = parseAString(&cursor), cursor.consume(UInt8(ascii: " "))
        else { return nil }
        let digits = cursor.consume(while: { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        guard cursor.isAtEnd, let size = DListGrammar.decimal(digits), size <= UInt64(UInt32.max) else { return nil }
        return FileLiteral(
            partition: String(decoding: partition, as: UTF8.self),
            guidText: String(decoding: guid, as: UTF8.self),
            size: UInt32(size)
        )
    }

    /// ```
    /// astring = 1*(any byte but whitespace, "(", ")", DQUOTE, "}") / DQUOTE *(qchar / "\" octet) DQUOTE
    /// ```
    private static func parseAString(_ cursor: inout ParseCursor) -> [UInt8]? {
        let start = cursor.position
        if cursor.consume(UInt8(ascii: "\"")) {
            var out: [UInt8] = []
            while let byte = cursor.peek() {
                _ = cursor.consume(byte)
                switch byte {
                case UInt8(ascii: "\""): return out
                case UInt8(ascii: "\\"):
                    guard let escaped = cursor.peek() else { break }
                    _ = cursor.consume(escaped)
                    out.append(escaped)
                default: out.append(byte)
                }
            }
            cursor.reset(to: start)
            return nil
        }
        let atom = cursor.consume(while: { !DListGrammar.endsAtom($0) && $0 != UInt8(ascii: "}") })
        return atom.isEmpty ? nil : Array(atom)
    }
}

// MARK: - Encoding

extension FileLiteral {
    /// Writes `%{partition guid size}CRLF`. The partition and GUID are atoms when they can be,
    /// else quoted with backslash escapes (which Cyrus reads); never literals.
    func writeHeader(into buffer: inout ByteBuffer) {
        buffer.writeString("%{")
        Self.writeHeaderString(partition, into: &buffer)
        buffer.writeInteger(UInt8(ascii: " "))
        Self.writeHeaderString(guidText, into: &buffer)
        buffer.writeString(" \(size)}\r\n")
    }

    private static func writeHeaderString(_ text: String, into buffer: inout ByteBuffer) {
        let bytes = Array(text.utf8)
        if !bytes.isEmpty, bytes != DListGrammar.nilBytes, bytes.allSatisfy(DListGrammar.isWrittenAtomByte),
            !bytes.contains(UInt8(ascii: "}"))
        {
            buffer.writeBytes(bytes)
            return
        }
        buffer.writeInteger(UInt8(ascii: "\""))
        for byte in bytes where byte != UInt8(ascii: "\r") && byte != UInt8(ascii: "\n") {
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { buffer.writeInteger(UInt8(ascii: "\\")) }
            buffer.writeInteger(byte)
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }
}
