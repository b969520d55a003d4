import MailCore

/// A user known to the server.
public struct UserAccount: Hashable, Sendable {
    public var name: UserName
    /// The encoded password verifier (see `PasswordHasher` in ServerSupport); opaque here.
    public var passwordVerifier: String
    public var createdAt: UnixTime

    public init(name: UserName, passwordVerifier: String, createdAt: UnixTime) {
        self.name = name
        self.passwordVerifier = passwordVerifier
        self.createdAt = createdAt
    }
}
