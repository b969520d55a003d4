import NIOCore

/// Replication commands on the IMAP port (Cyrus's `X-REPLICATION`: `SYNCGET`, `SYNCAPPLY`,
/// `SYNCRESTART`, `SYNCRESTORE`; sync-protocol §1.10), served by the replica engine.
public protocol IMAPReplicationService: Sendable {
    /// A replication session for a logged-in user (the engine refuses non-admins).
    func makeSession(user: String) -> any IMAPReplicationSession
}

/// The replica engine's side of one IMAP session.
public protocol IMAPReplicationSession: AnyObject, Sendable {
    /// Reads one command from `input`, which starts after `tag SYNC` (so with `GET`, `APPLY`,
    /// `RESTART` or `RESTORE`), consuming only its bytes; runs it once complete and returns
    /// the response (data lines, then the status line tagged with `tag`). Nil: more input needed.
    func feed(_ input: inout ByteBuffer, tag: String) async -> ByteBuffer?
    /// Drops what the session staged (the IMAP session ends).
    func close() async
}
