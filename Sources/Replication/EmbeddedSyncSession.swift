import Logging
import MailStore
import NIOCore
import SyncCodec

/// The replica engine embedded in another protocol's session: Cyrus's IMAP flavour of
/// replication (sync-protocol §1.10), where `tag SYNCGET`, `SYNCAPPLY`, `SYNCRESTART` and
/// `SYNCRESTORE` arrive on the IMAP port and are answered with tagged status lines. Its reserve
/// list lives as long as the enclosing session. (The runtime hands it to the IMAP server, which
/// knows nothing of csync.)
public final class EmbeddedSyncSession: @unchecked Sendable {
    let runner: SyncServerRunner<NoTransport>

    /// Embedded commands never change layers through the replica engine.
    struct NoTransport: SyncTransport {
        func write(_ buffer: ByteBuffer) async throws {}
        func startTLS(after reply: ByteBuffer) async throws -> Int { throw CancellationError() }
        func startCompression(after reply: ByteBuffer) async throws -> Int { throw CancellationError() }
    }

    /// A session of `user`, already authenticated by the enclosing protocol (the engine still
    /// refuses every command of a user who is not in `admins`).
    public init(connection: SyncServerConnection, user: String) {
        runner = SyncServerRunner(
            connection: connection,
            transport: NoTransport(),
            tlsActive: true,
            logger: connection.logger
        )
        runner.session.loggedIn(as: user)
        runner.decoder.pausesAfterEachCommand = true
    }

    /// Reads one command from `input`, which starts after `tag SYNC` (so with `GET`, `APPLY`,
    /// `RESTART` or `RESTORE`), consuming only its bytes; once it is complete, runs it and returns
    /// the response with the status line tagged. Nil: more input is needed.
    public func feed(_ input: inout ByteBuffer, tag: String) async -> ByteBuffer? {
        runner.statusPrefix = tag + " "
        let events = runner.decoder.decode(&input)
        for event in events { _ = try? await runner.handle(event) }
        guard runner.decoder.isPaused else { return nil }
        runner.decoder.resume()
        let output = runner.out
        runner.out = ByteBuffer()
        return output
    }

    /// Drops what the session staged.
    public func close() async { await runner.discardUploads() }
}
