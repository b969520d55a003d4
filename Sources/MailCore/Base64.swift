/// Standard base64 (RFC 4648 §4), the one implementation every module uses: SASL (strict),
/// RFC 2047 encoded words (lenient), the CLI's dumps.
public enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func value(_ c: UInt8) -> UInt32? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): UInt32(c - 65)
        case UInt8(ascii: "a")...UInt8(ascii: "z"): UInt32(c - 71)
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(c + 4)
        case UInt8(ascii: "+"): 62
        case UInt8(ascii: "/"): 63
        default: nil
        }
    }

    /// Padded base64 text.
    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var n: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { n |= UInt32(byte) << (16 - 8 * UInt32(offset)) }
            for position in 0..<4 {
                out.append(
                    position <= chunk.count ? alphabet[Int(n >> (18 - 6 * UInt32(position)) & 63)] : UInt8(ascii: "=")
                )
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Strict decoding: whole quads, padding only at the end; nil for anything malformed.
    public static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        guard text.count % 4 == 0 else { return nil }
        var padding = 0
        for c in text {
            if c == UInt8(ascii: "=") {
                padding += 1
            } else if padding > 0 || value(c) == nil {
                return nil
            }
        }
        guard padding <= 2 else { return nil }
        return decodeLenient(text)
    }

    /// Lenient decoding as broken mailers need: padding may be missing or misplaced; any other
    /// character outside the alphabet still makes it nil.
    public static func decodeLenient(_ text: some Collection<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for c in text where c != UInt8(ascii: "=") {
            guard let v = value(c) else { return nil }
            accumulator = accumulator << 6 | v
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(accumulator >> UInt32(bits) & 0xff))
            }
        }
        return out
    }
}
