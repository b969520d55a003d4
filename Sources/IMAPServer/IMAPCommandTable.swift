import IMAPCodec

/// Where each command may run and what it does to sequence numbers (Dovecot's command table).
enum IMAPCommandTable {
    struct Entry {
        /// The states the command is valid in.
        var states: Set<IMAPSession.StateKind>
        /// Whether untagged EXPUNGE may be sent while it runs (RFC 9051 §7.5.1: not during
        /// FETCH, STORE or SEARCH by sequence number).
        var mayAnnounceExpunge: Bool = true
        /// Whether it changes the store, so it passes the write gate (refused on a fenced
        /// replica). APPEND (which may stream before it runs), FETCH's implicit \Seen and
        /// CLOSE's expunge are gated where they write.
        var writes: Bool = false
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
        case .create, .delete, .rename, .subscribe, .unsubscribe, .setACL, .deleteACL, .setQuota, .setMetadata:
            return Entry(states: authenticated, writes: true)
        case .enable, .select, .examine, .status, .namespace, .idle, .list, .lsub, .getACL, .listRights, .myRights,
            .getQuota, .getQuotaRoot, .getMetadata, .append:
            return Entry(states: authenticated)
        case .expunge, .uidExpunge, .copy, .move:
            return Entry(states: selected, writes: true)
        case .check, .close, .unselect:
            return Entry(states: selected)
        case .store(_, _, _, let uid):
            return Entry(states: selected, mayAnnounceExpunge: uid, writes: true)
        case .fetch(_, _, _, let uid), .search(_, let uid):
            return Entry(states: selected, mayAnnounceExpunge: uid)
        }
    }
}
