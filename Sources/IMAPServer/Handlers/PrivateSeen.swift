import MailCore
import MailStore

/// Per-user \Seen, as Cyrus keeps it: the owner's \Seen is the records' flag; every other
/// reader (and everyone on a mailbox without an owner) has a seen set of their own, unless the
/// mailbox shares \Seen (option `S`). csync replicates those sets with `APPLY SEEN`.
extension IMAPSessionRunner {
    /// Cyrus's shared-seen option bit, as `Mailbox.options` keeps it (csync `OPTIONS S`).
    static var sharedSeenOption: Int { 2 }

    /// Whether \Seen on `mailbox` is this session user's own rather than the records' flag.
    func seenIsPrivate(_ mailbox: Mailbox) -> Bool {
        mailbox.name.owner != session.user && mailbox.options & Self.sharedSeenOption == 0
    }

    /// The session user's seen UIDs of a mailbox (empty when none are recorded).
    func privateSeenSet(_ mailbox: Mailbox) async throws(MailStoreError) -> UIDSet {
        let state = try await store.seenState(of: session.user!, mailboxUniqueID: mailbox.uniqueID)
        return state.flatMap { UIDSet(parsing: $0.seenUIDs) } ?? UIDSet()
    }

    /// Writes the selected view's seen set back to the store.
    func savePrivateSeen(_ selected: SelectedMailbox) async throws(MailStoreError) {
        guard let set = selected.privateSeen else { return }
        let now = connection.clock()
        let state = SeenState(lastRead: now, lastUID: selected.uidNext - 1, lastChange: now, seenUIDs: set.description)
        try await store.setSeenState(state, of: session.user!, mailboxUniqueID: selected.uniqueID)
    }

    /// STATUS UNSEEN for a reader with a private seen set.
    func privateUnseenCount(_ mailbox: Mailbox) async throws(MailStoreError) -> Int {
        let seen = try await privateSeenSet(mailbox)
        let records = try await store.records(in: mailbox.name, includeExpunged: false)
        return records.reduce(0) { $0 + (seen.contains($1.uid) ? 0 : 1) }
    }

    /// STORE for a session with a private seen set: \Seen goes to the user's set, the other
    /// flags to the records; the owner's \Seen is never touched. Returns the sequence numbers
    /// whose flags (as this session sees them) changed, and the store's result.
    func storeWithPrivateSeen(
        _ selected: inout SelectedMailbox,
        sequences: [Int],
        flags: FlagSet,
        mode: FlagChangeMode,
        unchangedSince: ModSeq?
    ) async throws(MailStoreError) -> (changed: [Int], result: FlagStoreResult) {
        let uids = sequences.map { selected.entry(at: $0).uid }
        var others = flags
        others.remove(.seen)
        var result = FlagStoreResult()
        func apply(_ change: FlagChange) async throws(MailStoreError) {
            let part = try await store.storeFlags(change, uids: uids, in: selected.name, unchangedSince: unchangedSince)
            result.changed += part.changed
            result.unchanged += part.unchanged
            result.modified += part.modified
        }
        let seen: Bool?
        switch mode {
        case .add:
            if !others.all.isEmpty { try await apply(.add(others)) }
            seen = flags.contains(.seen) ? true : nil
        case .remove:
            if !others.all.isEmpty { try await apply(.remove(others)) }
            seen = flags.contains(.seen) ? false : nil
        case .replace:
            // Set exactly `flags`: add what is asked, remove every other flag but \Seen.
            var unwanted = FlagSet()
            for seq in sequences {
                for flag in selected.entry(at: seq).flags.all where flag != .seen && !others.contains(flag) {
                    unwanted.insert(flag)
                }
            }
            if !others.all.isEmpty { try await apply(.add(others)) }
            if !unwanted.all.isEmpty { try await apply(.remove(unwanted)) }
            seen = flags.contains(.seen)
        }
        var changed = Set<Int>()
        for record in result.changed {
            selected.noteStored(record)
            if let seq = selected.sequence(of: record.uid) { changed.insert(seq) }
        }
        if let seen {
            let seenChanged = selected.setPrivateSeen(uids, seen: seen)
            if !seenChanged.isEmpty { try await savePrivateSeen(selected) }
            changed.formUnion(seenChanged)
        }
        return (changed.sorted(), result)
    }

    /// How a STORE changes flags.
    enum FlagChangeMode { case add, remove, replace }
}
