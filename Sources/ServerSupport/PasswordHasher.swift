import Crypto
import MailCore
import _CryptoExtras

/// Derives and verifies password verifiers with PBKDF2-HMAC-SHA256 (swift-crypto).
///
/// Stored form: `$pbkdf2-sha256$<rounds>$<salt hex>$<key hex>`. The rounds are stored with
/// each verifier, so raising ``defaultRounds`` later strengthens new passwords without breaking
/// old ones.
public struct PasswordHasher: Sendable {
    /// OWASP's floor for PBKDF2-HMAC-SHA256, and swift-crypto's minimum for checked rounds.
    public static let defaultRounds = 210_000
    static let scheme = "pbkdf2-sha256"
    static let saltBytes = 16
    static let keyBytes = 32

    public let rounds: Int

    public init(rounds: Int = PasswordHasher.defaultRounds) {
        self.rounds = rounds
    }

    /// Makes a verifier for a new password with a fresh random salt.
    public func makeVerifier(password: String) throws -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<Self.saltBytes).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let key = try Self.derive(password: password, salt: salt, rounds: rounds)
        return "$\(Self.scheme)$\(rounds)$\(Hex.encode(salt))$\(Hex.encode(key))"
    }

    /// Checks a password against a stored verifier in constant time. Malformed verifiers fail.
    public static func verify(password: String, against verifier: String) -> Bool {
        let parts = verifier.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == scheme, let rounds = Int(parts[2]), rounds > 0,
            let salt = Hex.decode(parts[3]), let expected = Hex.decode(parts[4]),
            let actual = try? derive(password: password, salt: salt, rounds: rounds)
        else { return false }
        guard actual.count == expected.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(actual, expected) { difference |= a ^ b }
        return difference == 0
    }

    static func derive(password: String, salt: [UInt8], rounds: Int) throws -> [UInt8] {
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8),
            salt: salt,
            using: .sha256,
            outputByteCount: keyBytes,
            unsafeUncheckedRounds: rounds
        )
        return key.withUnsafeBytes { Array($0) }
    }
}
