import NIOCore

/// What the csync driver needs from the connection beneath it (the runtime implements it over
/// a NIO channel, tests in memory). STARTTLS and COMPRESS change the byte stream: the transport
/// sends `reply` in the old form, puts the new layer in place before reading another byte, and
/// returns how many input bytes reached the session before that, so the driver can drop input
/// pipelined after the command (sync-protocol §1.7, §1.8: nothing may be pipelined there).
public protocol SyncTransport: Sendable {
    func write(_ buffer: ByteBuffer) async throws
    func startTLS(after reply: ByteBuffer) async throws -> Int
    func startCompression(after reply: ByteBuffer) async throws -> Int
}

/// Verifies credentials, off the event loops.
public protocol SyncAuthenticator: Sendable {
    func authenticate(user: String, password: String) async -> Bool
}
