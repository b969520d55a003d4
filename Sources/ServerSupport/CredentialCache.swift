import Crypto
import MailCore
import Synchronization

/// Remembers recently verified logins so a reconnecting client does not cost a KDF run
/// (Dovecot's auth cache idea).
///
/// Entries are keyed by an HMAC, under a per-process random key, of the user, the password and
/// the stored verifier: a password change alters the verifier and so misses the cache at once,
/// even when the change came from another process (`corvid user passwd`). No password or
/// password-equivalent is kept.
public final class CredentialCache: Sendable {
    private let keyBytes: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }()
    private let entries = Mutex<[[UInt8]: UnixTime]>([:])
    /// Named limit: seconds a verified login is remembered.
    public let timeToLive: Double
    /// Named limit: entries kept before the cache is cleared.
    public let capacity: Int

    public init(timeToLive: Double = 300, capacity: Int = 100_000) {
        self.timeToLive = timeToLive
        self.capacity = capacity
    }

    /// Verifies `password` for `user` against `verifier`, using and filling the cache.
    public func verify(user: String, password: String, verifier: String, now: UnixTime) -> Bool {
        let tag = self.tag(user: user, password: password, verifier: verifier)
        if let expiry = entries.withLock({ $0[tag] }), expiry > now { return true }
        guard PasswordHasher.verify(password: password, against: verifier) else { return false }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[tag] = now + timeToLive
        }
        return true
    }

    /// Forgets every entry (e.g. on a password change made in this process).
    public func flush() { entries.withLock { $0.removeAll() } }

    private func tag(user: String, password: String, verifier: String) -> [UInt8] {
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: keyBytes))
        for part in [user, password, verifier] {
            hmac.update(data: Array(part.utf8))
            hmac.update(data: [0])
        }
        return Array(hmac.finalize())
    }
}
