import IMAPCodec

/// Where each command may run and what it does to sequence numbers (Dovecot's command table).
enum IMAPCommandTable {
    struct Entry {
        /// The states the command is valid in.
        var states: Set<IMAPSession.StateKind>
        /// Whether untagged EXPUNGE may be sent while it runs (RFC 9051 §7.5.1: not during
        /// FETCH, STORE or SEARCH by sequence number).
        var mayAnnounceExpunge: Bool = true
    }

    private static let any: Set<IMAPSession.StateKind> = [.notAuthenticated, .authenticated, .selected]
    private static let authenticated: Set<IMAPSession.StateKind> = [.authenticated, .selected]
    private static let selected: Set<IMAPSession.StateKind> = [.selected]

    static func entry(for command: IMAPCommand) -> Entry {
        switch command {
        case .capability, .noop, .logout, .id, .compress:
            return Entry(states: any)
        case .startTLS, .authenticate, .login:
            return Entry(states: [.notAuthenticated])
        case .enable, .select, .examine, .create, .delete, .rename, .subscribe, .unsubscribe, .status, .namespace,
            .idle, .list, .lsub, .append, .getACL, .setACL, .deleteACL, .listRights, .myRights, .getQuota,
            .getQuotaRoot, .setQuota, .getMetadata, .setMetadata:
            return Entry(states: authenticated)
        case .check, .close, .unselect, .expunge, .uidExpunge, .copy, .move:
            return Entry(states: selected)
        case .fetch(_, _, _, let uid), .store(_, _, _, let uid), .search(_, let uid):
            return Entry(states: selected, mayAnnounceExpunge: uid)
        }
    }
}
