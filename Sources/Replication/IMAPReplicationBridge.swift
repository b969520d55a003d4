import IMAPServer
import Logging
import MailStore
import NIOCore
import SyncCodec

/// Cyrus's IMAP flavour of replication (sync-protocol §1.10): `tag SYNCGET`, `SYNCAPPLY`,
/// `SYNCRESTART` and `SYNCRESTORE` on the IMAP port, answered by the same replica engine as
/// csync, with tagged status lines. A Cyrus master with the default `sync_try_imap: yes` uses it
/// when the replica's IMAP server advertises `X-REPLICATION` after login.
public struct IMAPReplicationBridge: IMAPReplicationService {
    let connection: SyncServerConnection

    public init(connection: SyncServerConnection) {
        self.connection = connection
    }

    public func makeSession(user: String) -> any IMAPReplicationSession {
        IMAPReplicationBridgeSession(connection: connection, user: user)
    }
}

/// One IMAP session's replication state: its reserve list lives as long as the IMAP session.
final class IMAPReplicationBridgeSession: IMAPReplicationSession, @unchecked Sendable {
    let runner: SyncServerRunner<NoTransport>

    /// The IMAP flavour never changes layers through the replica engine.
    struct NoTransport: SyncTransport {
        func write(_ buffer: ByteBuffer) async throws {}
        func startTLS(after reply: ByteBuffer) async throws -> Int { throw CancellationError() }
        func startCompression(after reply: ByteBuffer) async throws -> Int { throw CancellationError() }
    }

    init(connection: SyncServerConnection, user: String) {
        runner = SyncServerRunner(
            connection: connection,
            transport: NoTransport(),
            tlsActive: true,
            logger: connection.logger
        )
        runner.session.loggedIn(as: user)
        runner.decoder.pausesAfterEachCommand = true
    }

    func feed(_ input: inout ByteBuffer, tag: String) async -> ByteBuffer? {
        runner.statusPrefix = tag + " "
        let events = runner.decoder.decode(&input)
        for event in events { _ = try? await runner.handle(event) }
        guard runner.decoder.isPaused else { return nil }
        runner.decoder.resume()
        let output = runner.out
        runner.out = ByteBuffer()
        return output
    }

    func close() async { await runner.discardUploads() }
}
