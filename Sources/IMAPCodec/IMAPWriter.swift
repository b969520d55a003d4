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

    /// A string: quoted when it is short printable 7-bit text needing no escapes, else a literal.
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
            buffer.writeString("{\(bytes.count)}\r\n")
            buffer.writeBytes(bytes)
        }
    }
}

/// Standard base64 (RFC 4648 §4) for SASL, in the codec because AUTHENTICATE carries it.
public enum Base64Text {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let n = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<4 {
                out.append(
                    position <= chunk.count ? alphabet[Int(n >> (18 - 6 * UInt32(position)) & 63)] : UInt8(ascii: "=")
                )
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded base64; nil for anything malformed.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var values: [UInt8] = []
        var padding = 0
        for c in text {
            if c == UInt8(ascii: "=") {
                padding += 1
                values.append(0)
                continue
            }
            guard padding == 0, let value = alphabet.firstIndex(of: c) else { return nil }
            values.append(UInt8(value))
        }
        guard padding <= 2 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < values.count {
            let n =
                UInt32(values[index]) << 18 | UInt32(values[index + 1]) << 12 | UInt32(values[index + 2]) << 6
                | UInt32(values[index + 3])
            out += [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
            index += 4
        }
        out.removeLast(padding)
        return out
    }
}
