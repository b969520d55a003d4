import NIOCore

/// What the session driver needs from the connection beneath it.
///
/// The runtime implements it over a NIO channel; tests implement it in memory. STARTTLS and
/// COMPRESS change the byte stream mid-session, so the transport must send `reply` in the old
/// form and turn on the new layer before it reads another byte.
public protocol IMAPTransport: Sendable {
    func write(_ buffer: ByteBuffer) async throws
    /// Sends `reply` in plaintext, then starts TLS (server side).
    func startTLS(after reply: ByteBuffer) async throws
    /// Sends `reply` uncompressed, then turns on DEFLATE both ways (RFC 4978).
    func startCompression(after reply: ByteBuffer) async throws
}

/// Verifies credentials, off the event loops (PBKDF2 costs tens of milliseconds).
public protocol IMAPAuthenticator: Sendable {
    /// The user, if the password is right and the user exists.
    func authenticate(user: String, password: String) async -> Bool
}
