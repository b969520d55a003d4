/// IMAP's modified UTF-7 for mailbox names (RFC 3501 §5.1.3).
///
/// Printable ASCII stands for itself except `&`, written `&-`; other characters are UTF-16,
/// base64 with `,` for `/` and no padding, between `&` and `-`. Cyrus keeps internal names in
/// this form, so Corvid does too.
public enum ModifiedUTF7 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,".utf8)

    /// The modified UTF-7 form of UTF-8 bytes. Bytes already in modified UTF-7 (all 7-bit) are
    /// returned as they are, so names from IMAP4rev1 clients pass through unchanged.
    public static func encodeIfNeeded(_ bytes: [UInt8]) -> String {
        guard bytes.contains(where: { $0 >= 0x80 }) else { return String(decoding: bytes, as: UTF8.self) }
        return encode(String(decoding: bytes, as: UTF8.self))
    }

    /// Encodes a Unicode string.
    public static func encode(_ text: String) -> String {
        var out = ""
        var pending: [UInt16] = []
        func flushPending() {
            guard !pending.isEmpty else { return }
            var bytes: [UInt8] = []
            for unit in pending { bytes += [UInt8(unit >> 8), UInt8(unit & 0xff)] }
            var encoded = "&"
            var index = 0
            while index < bytes.count {
                let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
                let value =
                    (UInt32(chunk[0]) << 16) | (UInt32(chunk.count > 1 ? chunk[1] : 0) << 8)
                    | UInt32(chunk.count > 2 ? chunk[2] : 0)
                let characters = chunk.count + 1
                for position in 0..<characters {
                    let sextet = Int((value >> UInt32(18 - 6 * position)) & 0x3f)
                    encoded.append(Character(UnicodeScalar(alphabet[sextet])))
                }
                index += 3
            }
            out += encoded + "-"
            pending.removeAll()
        }
        for scalar in text.unicodeScalars {
            if scalar.value >= 0x20 && scalar.value <= 0x7e {
                flushPending()
                out += scalar == "&" ? "&-" : String(scalar)
            } else {
                pending.append(contentsOf: String(scalar).utf16)
            }
        }
        flushPending()
        return out
    }

    /// Decodes to Unicode; nil if malformed.
    public static func decode(_ text: String) -> String? {
        var out = String.UnicodeScalarView()
        var units: [UInt16] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "&") else {
                guard byte >= 0x20 && byte <= 0x7e else { return nil }
                out.append(UnicodeScalar(byte))
                continue
            }
            var sextets: [UInt8] = []
            var closed = false
            while let next = iterator.next() {
                if next == UInt8(ascii: "-") {
                    closed = true
                    break
                }
                guard let value = alphabet.firstIndex(of: next) else { return nil }
                sextets.append(UInt8(value))
            }
            guard closed else { return nil }
            if sextets.isEmpty {
                out.append("&")
                continue
            }
            var bits: UInt32 = 0
            var count = 0
            var bytes: [UInt8] = []
            for sextet in sextets {
                bits = (bits << 6) | UInt32(sextet)
                count += 6
                if count >= 8 {
                    count -= 8
                    bytes.append(UInt8((bits >> UInt32(count)) & 0xff))
                }
            }
            guard bytes.count % 2 == 0 else { return nil }
            units = stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
            for scalar in String(decoding: units, as: UTF16.self).unicodeScalars { out.append(scalar) }
        }
        return String(out)
    }
}
