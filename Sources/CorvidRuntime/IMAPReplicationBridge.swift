import IMAPServer
import NIOCore
import Replication

/// Serves the IMAP flavour of replication (`X-REPLICATION`) with the csync replica engine: the
/// IMAP server and the replication engine stay unaware of each other.
struct IMAPReplicationBridge: IMAPReplicationService {
    let connection: SyncServerConnection

    func makeSession(user: String) -> any IMAPReplicationSession {
        Session(embedded: EmbeddedSyncSession(connection: connection, user: user))
    }

    final class Session: IMAPReplicationSession, @unchecked Sendable {
        let embedded: EmbeddedSyncSession
        init(embedded: EmbeddedSyncSession) { self.embedded = embedded }
        func feed(_ input: inout ByteBuffer, tag: String) async -> ByteBuffer? {
            await embedded.feed(&input, tag: tag)
        }
        func close() async { await embedded.close() }
    }
}
