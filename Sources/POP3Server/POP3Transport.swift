import NIOCore

/// What the session driver needs from the connection beneath it.
///
/// The runtime implements it over a NIO channel; tests implement it in memory. STLS changes
/// the byte stream mid-session: the transport sends `reply` in plaintext and starts TLS before
/// it reads another byte, and returns how many input bytes reached the session before TLS was
/// in place, so the driver drops whatever plaintext was pipelined after STLS (RFC 2595 §4).
public protocol POP3Transport: Sendable {
    func write(_ buffer: ByteBuffer) async throws
    func startTLS(after reply: ByteBuffer) async throws -> Int
}

/// Verifies credentials, off the event loops (PBKDF2 costs tens of milliseconds).
public protocol POP3Authenticator: Sendable {
    /// Whether the user exists and the password is right.
    func authenticate(user: String, password: String) async -> Bool
}
