import Testing

@testable import MailMessage

/// The folding SEARCH matches on: ASCII runs are lower-cased eight bytes at a time, so the
/// result must equal scalar-by-scalar folding for every run length, alignment and byte.
@Suite struct CaseFoldingTests {
    /// Scalar by scalar, through the one-scalar mapping (the reference).
    static func reference(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            CaseFolding.appendFolded(scalar, to: &out)
        }
        return out
    }

    @Test func everyASCIIByteFoldsAsItsScalar() {
        let all = (0..<128).map { UInt8($0) }
        // Every offset, so each byte passes through every lane of the eight-byte word.
        for shift in 0..<8 {
            let bytes = Array(repeating: UInt8(ascii: "x"), count: shift) + all
            #expect(CaseFolding.folded(String(decoding: bytes, as: UTF8.self)) == Self.reference(bytes))
        }
        #expect(CaseFolding.folded("@AZ[`az{\u{7F}") == Array("@az[`az{\u{7F}".utf8))
    }

    @Test func mixedRunsOfEveryLengthFoldAsScalars() {
        // The bytes around the A–Z boundaries, and multi-byte scalars that fold (Ü, Σ) or not (ß, €).
        let pieces: [[UInt8]] = ["@", "A", "M", "Z", "[", "`", "a", "z", "{", " ", "\u{7F}", "Ü", "Σ", "ß", "€"].map {
            Array($0.utf8)
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        for _ in 0..<2_000 {
            var bytes: [UInt8] = []
            for _ in 0..<next(40) { bytes += pieces[next(pieces.count)] }
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(CaseFolding.folded(text) == Self.reference(bytes), "\(bytes)")
        }
    }

    @Test func invalidUTF8AfterAnASCIIRunBecomesTheReplacementCharacter() {
        var out: [UInt8] = []
        let bytes: [UInt8] = Array("ABCDEFGHIJ".utf8) + [0xFF] + Array("K".utf8)
        bytes.withUnsafeBufferPointer { CaseFolding.appendFolded(utf8: $0, to: &out) }
        #expect(out == Array("abcdefghij\u{FFFD}k".utf8))
    }
}
