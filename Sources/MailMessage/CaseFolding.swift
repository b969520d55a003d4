#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Lower-cased UTF-8 bytes for SEARCH's case-insensitive substring match (RFC 9051 §6.4.4).
///
/// Text is folded once to lower-case UTF-8 and then searched as bytes, so the hot loop never
/// touches `Character`. ASCII is folded by arithmetic; other scalars by Unicode's lowercase
/// mapping, so `GRÜßE` matches `grüße` (but `GRÜSSE` does not: that needs full case folding).
enum CaseFolding {
    /// Appends `utf8` lower-cased to `out`; invalid UTF-8 becomes U+FFFD.
    static func appendFolded(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        var index = 0
        let count = bytes.count
        while index < count {
            let asciiEnd = asciiRunEnd(bytes, from: index)
            if asciiEnd > index {
                appendLowercasedASCII(UnsafeBufferPointer(rebasing: bytes[index..<asciiEnd]), to: &out)
                index = asciiEnd
                continue
            }
            // A run of non-ASCII bytes: decode it to scalars and map each one.
            var end = index + 1
            while end < count, bytes[end] >= 0x80 { end += 1 }
            var iterator = UnsafeBufferPointer(rebasing: bytes[index..<end]).makeIterator()
            var decoder = UTF8()
            decoding: while true {
                switch decoder.decode(&iterator) {
                case .scalarValue(let scalar): appendFolded(scalar, to: &out)
                case .error: out += [0xEF, 0xBF, 0xBD]
                case .emptyInput: break decoding
                }
            }
            index = end
        }
    }

    /// Appends ISO-8859-1 (or, with `windows1252`, windows-1252) text lower-cased as UTF-8,
    /// without building a String.
    /// The end of the run of ASCII bytes starting at `start`, eight bytes at a time.
    static func asciiRunEnd(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        guard let base = bytes.baseAddress else { return start }
        var index = start
        let count = bytes.count
        while index + 8 <= count,
            UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0
        {
            index += 8
        }
        while index < count, bytes[index] < 0x80 { index += 1 }
        return index
    }

    /// Appends ASCII `bytes` with A–Z lower-cased: one bulk copy, then eight bytes at a time
    /// (each byte gains 0x20 where it lies in 0x41...0x5A; ASCII bytes never carry into the
    /// next byte when 0x3F or 0x25 is added).
    static func appendLowercasedASCII(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: bytes)
        out.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var index = start
            let count = buffer.count
            while index + 8 <= count {
                let raw = UnsafeMutableRawPointer(base + index)
                let word = raw.loadUnaligned(as: UInt64.self)
                let atLeastA = word &+ 0x3F3F_3F3F_3F3F_3F3F  // high bit set where byte >= 0x41
                let pastZ = word &+ 0x2525_2525_2525_2525  // high bit set where byte >= 0x5B
                let upper = atLeastA & ~pastZ & 0x8080_8080_8080_8080
                raw.storeBytes(of: word | (upper >> 2), as: UInt64.self)
                index += 8
            }
            while index < count {
                let byte = base[index]
                base[index] = byte &+ (byte >= 65 && byte <= 90 ? 32 : 0)
                index += 1
            }
        }
    }

    static func appendFolded(latin1 bytes: UnsafeBufferPointer<UInt8>, windows1252: Bool, to out: inout [UInt8]) {
        for byte in bytes {
            if byte < 0x80 {
                out.append(byte &+ (byte >= 65 && byte <= 90 ? 32 : 0))
            } else if windows1252 && byte < 0xA0 {
                appendFolded(Charset.windows1252(byte), to: &out)
            } else {
                appendFolded(Unicode.Scalar(byte), to: &out)
            }
        }
    }

    /// One scalar's lowercase mapping; Latin-1 without a property lookup.
    static func appendFolded(_ scalar: Unicode.Scalar, to out: inout [UInt8]) {
        var value = scalar.value
        if value < 0x100 {
            // In Latin-1 only A–Z and À–Þ (but not ×) change, by 0x20.
            if (value >= 0x41 && value <= 0x5A) || (value >= 0xC0 && value <= 0xDE && value != 0xD7) { value += 0x20 }
            if value < 0x80 {
                out.append(UInt8(value))
            } else {
                out.append(UInt8(0xC0 | value >> 6))
                out.append(UInt8(0x80 | value & 0x3F))
            }
        } else if scalar.properties.changesWhenLowercased {
            out += scalar.properties.lowercaseMapping.utf8
        } else if let encoded = UTF8.encode(scalar) {
            out += encoded
        }
    }

    static func appendFolded(_ bytes: [UInt8], to out: inout [UInt8]) {
        bytes.withUnsafeBufferPointer { appendFolded(utf8: $0, to: &out) }
    }

    static func appendFolded(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendFolded(utf8: $0, to: &out) }
    }

    static func folded(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        appendFolded(text, to: &out)
        return out
    }

    /// Whether `needle` occurs in `haystack`; the empty needle occurs everywhere.
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard needle.count <= haystack.count else { return false }
        // memchr finds candidates for the first byte, memcmp checks the rest: both are
        // vectorized by the C library (Glibc hides memmem without _GNU_SOURCE).
        return haystack.withUnsafeBytes { hay in
            needle.withUnsafeBytes { pin in
                guard let hayStart = hay.baseAddress, let pinStart = pin.baseAddress else { return false }
                let first = Int32(pin[0])
                let lastStart = hay.count - pin.count
                var offset = 0
                while offset <= lastStart {
                    guard let hit = memchr(hayStart + offset, first, lastStart - offset + 1) else { return false }
                    let position = hayStart.distance(to: UnsafeRawPointer(hit))
                    if memcmp(hayStart + position, pinStart, pin.count) == 0 { return true }
                    offset = position + 1
                }
                return false
            }
        }
    }
}
