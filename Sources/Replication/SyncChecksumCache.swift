import MailCore
import MailStore
import Synchronization

/// Keeps each mailbox's `SYNC_CRC` and `SYNC_CRC_ANNOT` up to date without reading the whole
/// mailbox for every GET and APPLY: Cyrus keeps them in the index header; Corvid keeps, per
/// mailbox, every record's contribution in memory and brings it up to date from the records
/// changed since the HIGHESTMODSEQ it last saw (``ReplicaRecordSelection/changed(sinceModSeq:aboveUID:)``),
/// read in the same snapshot as the state the caller gets. Both checksums are XORs of
/// per-record CRCs (§4), so a changed record is taken out and put back in.
///
/// The cache trusts that every change of a record raises its modseq above the mailbox's
/// HIGHESTMODSEQ of the time. Whatever breaks that (an out-of-order replica apply, a record
/// removed by `corvid check`) is caught by the live-record count, which must equal the
/// header's, or by the other side's checksum; callers that see a mismatch read again with
/// `fresh`, which recomputes from every record. `corvid check --replica` never uses it.
///
/// One cache per store and process, shared by its sessions; bounded by
/// ``defaultRecordLimit`` records, least recently used mailboxes evicted first.
public final class SyncChecksumCache: Sendable {
    /// Named limit: records whose contributions are kept, over all mailboxes (12 bytes each).
    public static let defaultRecordLimit = 2_000_000

    /// A mailbox's cached contributions, valid for `uidValidity` at `highestModSeq`.
    struct Entry {
        var uidValidity: UIDValidity
        var highestModSeq: ModSeq
        /// Ascending UIDs, and what each record adds (nothing for tombstones).
        var uids: [UInt32] = []
        var slots: [Slot] = []
        var live = 0
        var sums = MailboxChecksums.empty
        var lastUse: UInt64 = 0

        init(uidValidity: UIDValidity, highestModSeq: ModSeq) {
            self.uidValidity = uidValidity
            self.highestModSeq = highestModSeq
        }

        /// Takes `record`'s old contribution out and its new one in.
        mutating func update(_ record: ReplicaRecord) {
            let uid = record.uid.rawValue
            let new = MailboxChecksums.contribution(of: record)
            let index: Int
            if let last = uids.last, last >= uid {
                index = Self.insertionIndex(of: uid, in: uids)
            } else {
                index = uids.count
            }
            let slot = Slot(checksums: new, live: !record.isExpunged)
            if index < uids.count, uids[index] == uid {
                let old = slots[index]
                sums.toggle(old.checksums)
                if old.live { live -= 1 }
                slots[index] = slot
            } else {
                uids.insert(uid, at: index)
                slots.insert(slot, at: index)
            }
            sums.toggle(new)
            if slot.live { live += 1 }
        }

        /// The first index whose UID is not below `uid`.
        static func insertionIndex(of uid: UInt32, in uids: [UInt32]) -> Int {
            var low = 0
            var high = uids.count
            while low < high {
                let middle = (low + high) / 2
                if uids[middle] < uid { low = middle + 1 } else { high = middle }
            }
            return low
        }
    }

    /// One record's part of the sums.
    struct Slot {
        var checksums: MailboxChecksums
        var live: Bool
    }

    struct State {
        var entries: [String: Entry] = [:]
        var records = 0
        var tick: UInt64 = 0
    }

    /// Where a read finds its mailbox.
    public enum Key: Hashable, Sendable {
        case name(MailboxName)
        case uniqueID(String)
    }

    private let state = Mutex(State())
    private let recordLimit: Int

    public init(recordLimit: Int = SyncChecksumCache.defaultRecordLimit) {
        self.recordLimit = recordLimit
    }

    /// Reads a mailbox with the records the caller `needs` and its checksums, both of one
    /// snapshot; nil if there is no such mailbox. With `fresh`, the checksums are recomputed
    /// from every record (and the cache rebuilt from them).
    public func read(
        _ key: Key,
        needing needed: ReplicaRecordSelection,
        from store: any MailStore,
        fresh: Bool = false
    ) async throws(MailStoreError) -> (state: ReplicaMailboxState, checksums: MailboxChecksums)? {
        var cached: Entry?
        var cachedID = ""
        if !fresh, case .uniqueID(let uniqueID) = key {
            cachedID = uniqueID
            cached = state.withLock { $0.entries[uniqueID] }
        }
        if !fresh, case .name(let name) = key {
            // The uniqueid is known only once the header is read: one header-only read first.
            guard let header = try await store.replicaState(of: name, selecting: .none) else { return nil }
            cachedID = header.mailbox.uniqueID
            cached = state.withLock { $0.entries[cachedID] }
            if let found = cached, found.uidValidity != header.mailbox.uidValidity { cached = nil }
        }
        let selection = Self.selection(needed: needed, covered: cached?.highestModSeq)
        guard var read = try await Self.read(key, selection, store) else { return nil }
        let mailbox = read.mailbox
        var entry: Entry?
        // The entry applies only to the mailbox read (a rename between the two reads of a
        // name lookup could put another one under that name).
        if let cached, case .changed = selection, cachedID == mailbox.uniqueID,
            cached.uidValidity == mailbox.uidValidity, cached.highestModSeq <= mailbox.highestModSeq
        {
            var updated = cached
            for record in read.records { updated.update(record) }
            updated.highestModSeq = mailbox.highestModSeq
            // A record changed without raising its modseq shows as a wrong live count.
            if updated.live == mailbox.messageCount { entry = updated }
        } else if case .all = selection {
            entry = Self.build(read)
        }
        if entry == nil {
            // Start again from every record.
            guard let all = try await Self.read(.uniqueID(mailbox.uniqueID), .all, store) else { return nil }
            read = all
            entry = Self.build(all)
        }
        guard let entry else { return nil }
        keep(entry, for: read.mailbox.uniqueID)
        read.records = Self.records(of: read.records, needed: needed)
        return (read, entry.sums)
    }

    /// Forgets a mailbox (it was deleted, or its checksum found wrong).
    public func forget(uniqueID: String) {
        state.withLock { state in
            if let old = state.entries.removeValue(forKey: uniqueID) { state.records -= old.uids.count }
        }
    }

    /// Records held, over all mailboxes (for tests and metrics).
    public var recordCount: Int { state.withLock { $0.records } }

    // MARK: Internals

    /// What to read: the records the caller needs plus those changed since the cache's state.
    static func selection(needed: ReplicaRecordSelection, covered: ModSeq?) -> ReplicaRecordSelection {
        guard let covered else { return .all }
        switch needed {
        case .all: return .all
        case .none: return .changed(sinceModSeq: covered, aboveUID: .max)
        case .changed(let modSeq, let uid):
            return .changed(sinceModSeq: min(modSeq, covered), aboveUID: uid)
        }
    }

    static func read(
        _ key: Key,
        _ selection: ReplicaRecordSelection,
        _ store: any MailStore
    )
        async throws(MailStoreError) -> ReplicaMailboxState?
    {
        switch key {
        case .name(let name): try await store.replicaState(of: name, selecting: selection)
        case .uniqueID(let uniqueID): try await store.replicaState(uniqueID: uniqueID, selecting: selection)
        }
    }

    static func build(_ state: ReplicaMailboxState) -> Entry {
        var entry = Entry(uidValidity: state.mailbox.uidValidity, highestModSeq: state.mailbox.highestModSeq)
        entry.uids.reserveCapacity(state.records.count)
        entry.slots.reserveCapacity(state.records.count)
        for record in state.records { entry.update(record) }
        return entry
    }

    /// The records of a read that the caller asked for.
    static func records(of records: [ReplicaRecord], needed: ReplicaRecordSelection) -> [ReplicaRecord] {
        switch needed {
        case .none: return []
        case .all: return records
        case .changed(let modSeq, let uid):
            return records.filter { record in
                record.modSeq > modSeq || record.uid.rawValue > uid
                    || record.annotations.contains { ($0.modSeq ?? ModSeq(0)) > modSeq }
            }
        }
    }

    /// Keeps `entry` unless a newer one is there already; evicts the least recently used
    /// mailboxes over the record limit.
    private func keep(_ entry: Entry, for uniqueID: String) {
        guard entry.uids.count <= recordLimit else { return forget(uniqueID: uniqueID) }
        state.withLock { state in
            state.tick += 1
            var entry = entry
            entry.lastUse = state.tick
            if let old = state.entries[uniqueID] {
                if old.uidValidity == entry.uidValidity, old.highestModSeq > entry.highestModSeq { return }
                state.records -= old.uids.count
            }
            state.entries[uniqueID] = entry
            state.records += entry.uids.count
            while state.records > recordLimit,
                let victim = state.entries.min(by: { $0.value.lastUse < $1.value.lastUse })
            {
                state.records -= victim.value.uids.count
                state.entries.removeValue(forKey: victim.key)
            }
        }
    }
}
