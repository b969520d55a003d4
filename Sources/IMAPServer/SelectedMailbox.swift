import IMAPCodec
import MailCore
import MailStore

/// The session's view of its selected mailbox: the sequence-number map, flags and modseqs as
/// this client last saw them.
///
/// Other sessions and LMTP change the mailbox at any time; ``apply(_:mailbox:)`` folds the
/// store's changes (records with a modseq above ``knownModSeq``, tombstones included) into
/// this view and returns the untagged responses that tell the client, in the order RFC 9051
/// §7.5 requires. EXPUNGE may not be sent during FETCH, STORE or SEARCH (sequence numbers would
/// shift under the client), so those expunges wait in ``pendingExpunges`` and the messages keep
/// their numbers until a command that may announce them.
public struct SelectedMailbox: Sendable {
    public struct Entry: Hashable, Sendable {
        public var uid: UID
        public var flags: FlagSet
        public var modSeq: ModSeq
        public var internalDate: UnixTime
        public var saveDate: UnixTime
        public var size: Int64
        public var guid: MessageGUID

        init(_ record: MessageRecord) {
            uid = record.uid
            flags = record.flags
            modSeq = record.modSeq
            internalDate = record.internalDate
            saveDate = record.saveDate
            size = record.size
            guid = record.guid
        }
    }

    public let name: MailboxName
    public let uniqueID: String
    public let uidValidity: UIDValidity
    public let readOnly: Bool
    /// Messages in sequence order (ascending UID).
    public private(set) var entries: [Entry]
    /// The highest modseq folded into this view.
    public private(set) var knownModSeq: ModSeq
    public private(set) var uidNext: UInt32
    /// Expunged in the store, not yet announced to the client.
    public private(set) var pendingExpunges: Set<UID> = []
    /// The session user's own \Seen UIDs when \Seen is kept per user (Cyrus: every reader but
    /// the owner of a mailbox without shared seen); nil when \Seen is the record's flag.
    public private(set) var privateSeen: UIDSet?

    public init(mailbox: Mailbox, records: [MessageRecord], readOnly: Bool) {
        self.init(mailbox: mailbox, entries: records.filter { !$0.isExpunged }.map(Entry.init), readOnly: readOnly)
    }

    /// `entries` (ascending UID) with `changes` (every record whose modseq passed the list's,
    /// ascending UID, expunged ones included) merged in: changed records replace their
    /// entries, expunged ones leave, new ones take their place by UID.
    static func merging(_ entries: [Entry], _ changes: [MessageRecord]) -> [Entry] {
        guard !changes.isEmpty else { return entries }
        var merged: [Entry] = []
        merged.reserveCapacity(entries.count + changes.count)
        var old = 0
        var new = 0
        while old < entries.count || new < changes.count {
            if new == changes.count || (old < entries.count && entries[old].uid < changes[new].uid) {
                merged.append(entries[old])
                old += 1
                continue
            }
            if old < entries.count && entries[old].uid == changes[new].uid { old += 1 }
            if !changes[new].isExpunged { merged.append(Entry(changes[new])) }
            new += 1
        }
        return merged
    }

    /// A view over a list already built for this mailbox state (shared copy-on-write).
    init(mailbox: Mailbox, entries: [Entry], readOnly: Bool) {
        name = mailbox.name
        uniqueID = mailbox.uniqueID
        uidValidity = mailbox.uidValidity
        self.readOnly = readOnly
        self.entries = entries
        knownModSeq = mailbox.highestModSeq
        uidNext = mailbox.lastUID + 1
    }

    public var count: Int { entries.count }

    /// The sequence number (1-based) of `uid`, if the client knows it.
    public func sequence(of uid: UID) -> Int? {
        let index = firstIndex(atOrAbove: uid.rawValue)
        return index < entries.count && entries[index].uid == uid ? index + 1 : nil
    }

    /// The index of the first entry whose UID is at least `uid` (binary search).
    private func firstIndex(atOrAbove uid: UInt32) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].uid.rawValue < uid { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The entry at a 1-based sequence number.
    public func entry(at sequence: Int) -> Entry { entries[sequence - 1] }

    /// Sequence numbers for a sequence set (`*` = the last message), ascending.
    public func sequences(for set: UIDSet) -> [Int] {
        var result: [Int] = []
        for range in set.ranges {
            let low = max(Int(range.lowerBound), 1)
            let high = min(Int(range.upperBound), entries.count)
            if low <= high { result.append(contentsOf: low...high) }
        }
        return result
    }

    /// Sequence numbers of the UIDs in a UID set, ascending; UIDs not present are skipped.
    public func sequences(forUIDs set: UIDSet) -> [Int] {
        var result: [Int] = []
        for range in set.ranges {
            var index = firstIndex(atOrAbove: range.lowerBound)
            while index < entries.count, entries[index].uid.rawValue <= range.upperBound {
                result.append(index + 1)
                index += 1
            }
        }
        return result
    }

    /// The largest UID in the view (for `*` in UID sets), or 0.
    public var largestUID: UInt32 { entries.last?.uid.rawValue ?? 0 }

    /// What one refresh tells the client.
    public struct Update: Sendable {
        /// Sequence numbers expunged, in the order to announce them (each as of its announcement).
        public var expunged: [Int] = []
        public var expungedUIDs: [UID] = []
        /// New EXISTS count, when messages arrived.
        public var exists: Int?
        /// Sequence numbers whose flags (or modseq) changed.
        public var flagChanges: [Int] = []

        public var isEmpty: Bool { expunged.isEmpty && exists == nil && flagChanges.isEmpty }
    }

    /// Shows \Seen from the user's own seen set instead of the records' flags.
    public mutating func usePrivateSeen(_ seen: UIDSet) {
        privateSeen = seen
        for index in entries.indices { entries[index].flags = overlaid(entries[index].flags, entries[index].uid) }
    }

    /// A record's flags as this session sees them.
    func overlaid(_ flags: FlagSet, _ uid: UID) -> FlagSet {
        guard let privateSeen else { return flags }
        var result = flags
        if privateSeen.contains(uid) { result.insert(.seen) } else { result.remove(.seen) }
        return result
    }

    /// Marks messages seen or unseen in the private seen set; returns the sequence numbers whose
    /// flags changed.
    public mutating func setPrivateSeen(_ uids: [UID], seen: Bool) -> [Int] {
        guard var set = privateSeen else { return [] }
        var changed: [Int] = []
        for uid in uids {
            guard let seq = sequence(of: uid), entries[seq - 1].flags.contains(.seen) != seen else { continue }
            if seen { set.insert(uid) } else { set.remove(uid) }
            if seen { entries[seq - 1].flags.insert(.seen) } else { entries[seq - 1].flags.remove(.seen) }
            changed.append(seq)
        }
        privateSeen = set
        return changed.sorted()
    }

    /// Folds changed records into the view. With `allowExpunge` false, expunges are held back.
    public mutating func apply(_ changes: [MessageRecord], mailbox: Mailbox, allowExpunge: Bool) -> Update {
        var update = Update()
        var appended: [Entry] = []
        var changed: [UID] = []
        for var record in changes {
            record.flags = overlaid(record.flags, record.uid)
            if record.isExpunged {
                if sequence(of: record.uid) != nil { pendingExpunges.insert(record.uid) }
                continue
            }
            if let seq = sequence(of: record.uid) {
                if entries[seq - 1].flags != record.flags { changed.append(record.uid) }
                entries[seq - 1].flags = record.flags
                entries[seq - 1].modSeq = record.modSeq
            } else if record.uid.rawValue > largestUID {
                appended.append(Entry(record))
            }
        }
        knownModSeq = max(knownModSeq, mailbox.highestModSeq)
        uidNext = max(uidNext, mailbox.lastUID + 1)
        if allowExpunge, !pendingExpunges.isEmpty {
            // Highest first: the numbers of the ones still to announce do not shift.
            for seq in (1...entries.count).reversed() where pendingExpunges.contains(entries[seq - 1].uid) {
                update.expunged.append(seq)
                update.expungedUIDs.append(entries[seq - 1].uid)
                entries.remove(at: seq - 1)
            }
            update.expungedUIDs.sort()
            pendingExpunges.removeAll()
        }
        if !appended.isEmpty {
            entries.append(contentsOf: appended.sorted { $0.uid < $1.uid })
            update.exists = entries.count
        }
        for uid in changed where !pendingExpunges.contains(uid) {
            if let seq = sequence(of: uid) { update.flagChanges.append(seq) }
        }
        update.flagChanges.sort()
        return update
    }

    /// Records this session's own flag change so it is not announced again as foreign.
    public mutating func noteStored(_ record: MessageRecord) {
        guard let seq = sequence(of: record.uid) else { return }
        entries[seq - 1].flags = overlaid(record.flags, record.uid)
        entries[seq - 1].modSeq = record.modSeq
    }

    /// Removes expunged UIDs this session expunged itself (announced by the caller).
    public mutating func removeExpunged(_ uids: Set<UID>) -> [Int] {
        var expunged: [Int] = []
        for seq in (1...max(entries.count, 1)).reversed() where seq <= entries.count {
            if uids.contains(entries[seq - 1].uid) {
                expunged.append(seq)
                entries.remove(at: seq - 1)
            }
        }
        pendingExpunges.subtract(uids)
        return expunged
    }
}
