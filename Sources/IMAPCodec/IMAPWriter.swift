import MailCore
import NIOCore

/// Encoders for the primitive productions, shared by command and response writers.
public enum IMAPWriter {
    /// An astring in the cheapest form that round-trips: atom, quoted, or literal.
    public static func writeAString(_ bytes: [UInt8], into buffer: inout ByteBuffer) {
        if !bytes.isEmpty, bytes.allSatisfy(IMAPGrammar.isAstringChar) {
            buffer.writeBytes(bytes)
        } else {
            writeString(bytes, into: &buffer)
        }
    }

    /// A string: quoted when it is short printable 7-bit text needing no escapes, else a literal
    /// (literal8 when it holds NUL).
    public static func writeString(_ bytes: [UInt8], into buffer: inout ByteBuffer) {
        // As Cyrus does: strings that would need escapes go as literals, which every client reads.
        let quotable =
            bytes.count <= 1024
            && bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }
        if quotable {
            buffer.writeString("\"")
            buffer.writeBytes(bytes)
            buffer.writeString("\"")
        } else {
            // A literal may not hold NUL (RFC 9051 CHAR8); only literal8 (RFC 3516) can.
            buffer.writeString("\(bytes.contains(0) ? "~" : ""){\(bytes.count)}\r\n")
            buffer.writeBytes(bytes)
        }
    }
}
