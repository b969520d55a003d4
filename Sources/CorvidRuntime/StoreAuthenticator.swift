import IMAPServer
import MailCore
import MailStore
import MailStoreSQLite
import NIOPosix
import POP3Server
import Replication
import ServerSupport

/// Checks logins against the store's users, running the key derivation on a thread pool so it
/// never stalls an event loop, and caching successes (``CredentialCache``).
struct StoreAuthenticator: IMAPAuthenticator, POP3Authenticator, SyncAuthenticator {
    let store: any MailStore
    let cache: CredentialCache
    let pool: NIOThreadPool

    func authenticate(user: String, password: String) async -> Bool {
        guard let name = try? UserName(user), let account = try? await store.user(name) else {
            // Unknown users cost the same KDF work, so timing does not reveal which names exist.
            _ = try? await pool.runIfActive { PasswordHasher.verify(password: password, against: Self.decoy) }
            return false
        }
        let cache = self.cache
        let verifier = account.passwordVerifier
        return
            (try? await pool.runIfActive {
                cache.verify(user: name.name, password: password, verifier: verifier, now: SQLiteMailStore.systemTime())
            }) ?? false
    }

    /// A verifier no password matches, made once.
    static let decoy: String =
        (try? PasswordHasher().makeVerifier(password: "corvid-decoy-\(UInt64.random(in: 0...UInt64.max))")) ?? ""
}
