import NIOCore

/// What the session driver needs from the connection beneath it.
///
/// The runtime implements it over a NIO channel; tests implement it in memory. STARTTLS and
/// COMPRESS change the byte stream mid-session, so the transport sends `reply` in the old form
/// and turns on the new layer before it reads another byte. Both return how many input bytes
/// reached the session before the new layer was in place: the driver drops everything up to
/// that count (plaintext a client, or an attacker, sent after the command).
public protocol IMAPTransport: Sendable {
    func write(_ buffer: ByteBuffer) async throws
    /// Writes `buffers` in order, as one hand-over where the transport can.
    func write(contentsOf buffers: [ByteBuffer]) async throws
    /// Sends `reply` in plaintext, then starts TLS (server side).
    func startTLS(after reply: ByteBuffer) async throws -> Int
    /// Sends `reply` uncompressed, then turns on DEFLATE both ways (RFC 4978).
    func startCompression(after reply: ByteBuffer) async throws -> Int
    /// Makes the session's input yield one empty chunk soon, after what it already holds.
    ///
    /// Callable from any thread. It is how a change to the selected mailbox reaches a session
    /// waiting for input (IDLE pushes it at once): the session needs no task of its own waiting
    /// for changes. Real input never comes as an empty chunk; after the input ended it does
    /// nothing.
    func wake()
}

extension IMAPTransport {
    public func write(contentsOf buffers: [ByteBuffer]) async throws {
        for buffer in buffers { try await write(buffer) }
    }
}

/// Verifies credentials, off the event loops (PBKDF2 costs tens of milliseconds).
public protocol IMAPAuthenticator: Sendable {
    /// The user, if the password is right and the user exists.
    func authenticate(user: String, password: String) async -> Bool
}
