import MailCore

/// `sync_ack: replica` (issue 6 (a)): what LMTP and IMAP APPEND await after a commit and
/// before they acknowledge it, so an acknowledged message survives the loss of the whole
/// master.
public protocol ReplicaAcknowledgement: Sendable {
    /// Waits until every `sync_ack: replica` channel holds, durably (its replica answered OK),
    /// everything committed so far to these mailboxes. False when a channel did not within
    /// its timeout, or is failing one of these mailboxes.
    func waitForReplicas(of mailboxes: [MailboxName]) async -> Bool
}
