import MailCore
import MailStore
import Synchronization

/// The message lists of recently selected mailboxes, shared by the sessions that select them.
///
/// A session's sequence map is a copy-on-write array; sessions that select a mailbox in the
/// same state (same uniqueid and highest modseq, so the same records) share one buffer until
/// one of them changes its view. Thousands of IDLE sessions on a few mailboxes then hold one
/// list per mailbox, not one each, and re-selecting an unchanged large mailbox skips the
/// store. Bounded by ``capacity`` mailboxes.
final class SelectionCache: Sendable {
    /// One mailbox's list at one state.
    struct Item {
        var modSeq: ModSeq
        var uidValidity: UIDValidity
        var entries: [SelectedMailbox.Entry]
    }

    private let items = Mutex<[String: Item]>([:])
    /// Named limit: mailboxes whose lists are kept.
    let capacity: Int

    init(capacity: Int = 512) { self.capacity = capacity }

    /// The shared list for a mailbox at exactly this state, if cached.
    func entries(uniqueID: String, modSeq: ModSeq) -> [SelectedMailbox.Entry]? {
        items.withLock { items in
            guard let item = items[uniqueID], item.modSeq == modSeq else { return nil }
            return item.entries
        }
    }

    /// The newest list kept for a mailbox, whatever its state: a SELECT after a few changes
    /// reads only the records changed since and merges them in.
    func latest(uniqueID: String) -> Item? { items.withLock { $0[uniqueID] } }

    func store(_ entries: [SelectedMailbox.Entry], uniqueID: String, uidValidity: UIDValidity, modSeq: ModSeq) {
        items.withLock { items in
            if items[uniqueID] == nil, items.count >= capacity, let victim = items.keys.first {
                items[victim] = nil
            }
            if let existing = items[uniqueID], existing.modSeq > modSeq, existing.uidValidity == uidValidity { return }
            items[uniqueID] = Item(modSeq: modSeq, uidValidity: uidValidity, entries: entries)
        }
    }
}
