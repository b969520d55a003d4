import MailCore
import MailMessage
import Synchronization

/// Header summaries for SEARCH FROM / TO / CC / BCC / SUBJECT / SENT*, shared by every
/// session, keyed by message GUID.
///
/// A GUID names the message's bytes, which never change, so an entry is never stale and needs
/// no invalidation. A desktop client searches its INBOX's senders on every visit; with the
/// summaries at hand that search reads nothing from the store and parses no header (Dovecot
/// answers it from its index cache the same way). Bounded by ``capacityBytes``; when full,
/// the older half of the entries is dropped.
final class SearchHeaderCache: Sendable {
    /// Named limit: bytes of summaries kept (about 300 bytes a message: 64 MiB is ~200,000).
    static let capacityBytes = 64 << 20

    private struct State {
        var entries: [MessageGUID: (summary: SearchHeaderSummary, generation: UInt64)] = [:]
        var bytes = 0
        var generation: UInt64 = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacityBytes: Int = SearchHeaderCache.capacityBytes) { capacity = capacityBytes }

    /// The summaries known for `guids`, position for position (nil where none is cached).
    func summaries(_ guids: [MessageGUID]) -> [SearchHeaderSummary?] {
        state.withLock { state in guids.map { state.entries[$0]?.summary } }
    }

    func insert(_ summaries: [MessageGUID: SearchHeaderSummary]) {
        guard !summaries.isEmpty else { return }
        state.withLock { state in
            state.generation += 1
            for (guid, summary) in summaries where state.entries[guid] == nil {
                state.entries[guid] = (summary, state.generation)
                state.bytes += summary.size
            }
            guard state.bytes > capacity else { return }
            // Drop the older half (by insertion generation).
            let cut =
                state.generation - max(1, (state.generation - (state.entries.values.map(\.generation).min() ?? 0)) / 2)
            for (guid, entry) in state.entries where entry.generation <= cut {
                state.bytes -= entry.summary.size
                state.entries[guid] = nil
            }
        }
    }

    /// Entries held (for tests).
    var count: Int { state.withLock { $0.entries.count } }
}
