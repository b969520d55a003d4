import MailCore
import MailStore
import Synchronization

/// The message lists of recently selected mailboxes, shared by the sessions that select them.
///
/// A session's sequence map is a copy-on-write array; sessions that select a mailbox in the
/// same state (same uniqueid and highest modseq, so the same records) share one buffer until
/// one of them changes its view. Thousands of IDLE sessions on a few mailboxes then hold one
/// list per mailbox, not one each, and re-selecting an unchanged large mailbox skips the
/// store; after changes, SELECT reads only the records changed since (``list(for:from:)``).
/// Bounded by ``capacity`` mailboxes.
final class SelectionCache: Sendable {
    /// One mailbox's list at one state.
    private struct Item {
        var modSeq: ModSeq
        var uidValidity: UIDValidity
        var entries: [SelectedMailbox.Entry]
    }

    private let items = Mutex<[String: Item]>([:])
    /// Named limit: mailboxes whose lists are kept.
    let capacity: Int

    init(capacity: Int = 512) { self.capacity = capacity }

    /// The shared list for a mailbox at exactly this state, if cached.
    private func entries(uniqueID: String, modSeq: ModSeq) -> [SelectedMailbox.Entry]? {
        items.withLock { items in
            guard let item = items[uniqueID], item.modSeq == modSeq else { return nil }
            return item.entries
        }
    }

    /// The newest list kept for a mailbox, whatever its state.
    private func latest(uniqueID: String) -> Item? { items.withLock { $0[uniqueID] } }

    /// The message list SELECT shows for `mailbox` (as just looked up), kept for the next
    /// SELECT; nil if the mailbox is gone.
    ///
    /// The shared list when it is at the mailbox's state; else the list kept from an earlier
    /// state of the same mailbox (same uniqueid and UIDVALIDITY) with the records changed
    /// since its modseq merged in; else every record.
    func list(
        for mailbox: Mailbox,
        from store: any MailStore
    ) async throws(MailStoreError) -> (Mailbox, [SelectedMailbox.Entry])? {
        if let entries = entries(uniqueID: mailbox.uniqueID, modSeq: mailbox.highestModSeq) {
            return (mailbox, entries)
        }
        var listed: (Mailbox, [SelectedMailbox.Entry])?
        if let older = latest(uniqueID: mailbox.uniqueID), older.uidValidity == mailbox.uidValidity,
            older.modSeq < mailbox.highestModSeq,
            let (fresh, changes) = try await store.mailboxChanges(mailbox.name, since: older.modSeq),
            fresh.uniqueID == mailbox.uniqueID, fresh.uidValidity == older.uidValidity
        {
            // The merge holds only if every change since took a modseq above the list's.
            // Replication can write a record under an older modseq (a copy-back, a replica's
            // apply): a merged list whose count or size disagrees with the mailbox's is dropped.
            let merged = SelectedMailbox.merging(older.entries, changes)
            if merged.count == fresh.messageCount, merged.reduce(0, { $0 + $1.size }) == fresh.totalSize {
                listed = (fresh, merged)
            }
        }
        if listed == nil {
            guard let (fresh, records) = try await store.mailboxChanges(mailbox.name, since: nil) else { return nil }
            listed = (fresh, records.filter { !$0.isExpunged }.map(SelectedMailbox.Entry.init))
        }
        if let (fresh, entries) = listed {
            self.store(entries, uniqueID: fresh.uniqueID, uidValidity: fresh.uidValidity, modSeq: fresh.highestModSeq)
        }
        return listed
    }

    private func store(_ entries: [SelectedMailbox.Entry], uniqueID: String, uidValidity: UIDValidity, modSeq: ModSeq) {
        items.withLock { items in
            if items[uniqueID] == nil, items.count >= capacity, let victim = items.keys.first {
                items[victim] = nil
            }
            if let existing = items[uniqueID], existing.modSeq > modSeq, existing.uidValidity == uidValidity { return }
            items[uniqueID] = Item(modSeq: modSeq, uidValidity: uidValidity, entries: entries)
        }
    }
}
