import MailCore
import MailStore
import SyncCodec

/// One way a replica differs from its master (`corvid check --replica`).
public struct ReplicaDifference: Hashable, Sendable, CustomStringConvertible {
    /// The mailbox's internal name (the master's, or the replica's for one only it has).
    public var mailbox: String
    public var detail: String

    public init(_ mailbox: String, _ detail: String) {
        self.mailbox = mailbox
        self.detail = detail
    }

    public var description: String { "\(mailbox): \(detail)" }
}

/// Compares a master's mailboxes with what its replica reports, with no I/O: first the
/// header and SYNC_CRC of each pair (found by uniqueid), then, for pairs whose checksums
/// differ, record by record (GUIDs, flags, expunges, modseqs, annotations).
public enum ReplicaComparison {
    /// Mailbox level. `local` carry their records (the CRC needs them); `deletedHere` are the
    /// uniqueids with a tombstone here. Returns the differences found and the local mailboxes
    /// whose records must be compared (CRC mismatch).
    public static func mailboxes(
        local: [ReplicaMailboxState],
        remote: [ReplicaMailboxSummary],
        deletedHere: Set<String>
    ) -> (differences: [ReplicaDifference], compareRecords: [ReplicaMailboxState]) {
        var differences: [ReplicaDifference] = []
        var compare: [ReplicaMailboxState] = []
        let byID = Dictionary(remote.map { ($0.uniqueID, $0) }, uniquingKeysWith: { first, _ in first })
        let byName = Dictionary(remote.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let localIDs = Set(local.map(\.mailbox.uniqueID))
        for state in local.sorted(by: { $0.mailbox.name.internalName < $1.mailbox.name.internalName }) {
            let mailbox = state.mailbox
            let name = mailbox.name.internalName
            guard let replica = byID[mailbox.uniqueID] else {
                if let other = byName[name] {
                    differences.append(
                        .init(name, "the replica's mailbox of this name is another one (uniqueid \(other.uniqueID))")
                    )
                } else {
                    differences.append(.init(name, "missing on the replica"))
                }
                continue
            }
            if replica.name != name { differences.append(.init(name, "named \(replica.name) on the replica")) }
            differences += header(state, replica)
            let (crc, crcAnnotations) = ReplicaWire.checksums(of: state.records)
            if !SyncCRC.matches(replica.syncCRC, crc) || !SyncCRC.matches(replica.syncCRCAnnotations, crcAnnotations) {
                compare.append(state)
            }
        }
        for replica in remote.sorted(by: { $0.name < $1.name }) where !localIDs.contains(replica.uniqueID) {
            guard byName[replica.name]?.uniqueID == replica.uniqueID,
                !local.contains(where: { $0.mailbox.name.internalName == replica.name })
            else { continue }  // reported above, under the master's mailbox of that name
            differences.append(
                .init(
                    replica.name,
                    deletedHere.contains(replica.uniqueID)
                        ? "deleted here, still on the replica" : "only on the replica (never known here)"
                )
            )
        }
        return (differences, compare)
    }

    /// The header fields both sides keep.
    static func header(_ state: ReplicaMailboxState, _ replica: ReplicaMailboxSummary) -> [ReplicaDifference] {
        let mailbox = state.mailbox
        let name = mailbox.name.internalName
        var differences: [ReplicaDifference] = []
        func compare<T: Equatable>(_ field: String, _ ours: T, _ theirs: T) {
            if ours != theirs { differences.append(.init(name, "\(field) \(ours) here, \(theirs) on the replica")) }
        }
        compare("UIDVALIDITY", mailbox.uidValidity.rawValue, replica.uidValidity)
        compare("LAST_UID", mailbox.lastUID, replica.lastUID)
        compare("HIGHESTMODSEQ", mailbox.highestModSeq.rawValue, replica.highestModSeq)
        compare("ACL", mailbox.acl.cyrusString, replica.acl)
        if ReplicaWire.annotationKeys(state.annotations) != replica.annotations {
            differences.append(.init(name, "mailbox annotations differ"))
        }
        return differences
    }

    /// Record level: every UID either side has, tombstones on both sides excepted.
    public static func records(_ state: ReplicaMailboxState, _ replica: ReplicaMailboxSummary) -> [ReplicaDifference] {
        let name = state.mailbox.name.internalName
        let mine = Dictionary(state.records.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        let theirs = Dictionary(replica.records.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        var differences: [ReplicaDifference] = []
        for uid in Set(mine.keys).union(theirs.keys).sorted() {
            let line = { (text: String) in differences.append(.init(name, "UID \(uid): \(text)")) }
            switch (mine[uid], theirs[uid]) {
            case let (ours?, nil) where !ours.isExpunged:
                line("missing on the replica (GUID \(ours.guid.hex))")
            case let (nil, other?) where !other.isExpunged:
                line("only on the replica (GUID \(other.guid.hex))")
            case let (ours?, other?) where !(ours.isExpunged && other.isExpunged):
                if ours.guid != other.guid {
                    line("GUID \(ours.guid.hex) here, \(other.guid.hex) on the replica")
                } else if ours.isExpunged != other.isExpunged {
                    line(ours.isExpunged ? "expunged here, not on the replica" : "expunged on the replica only")
                } else if ours.flags != other.flags {
                    line("flags \(Self.flags(ours)) here, \(Self.flags(other)) on the replica")
                } else if ReplicaWire.annotationKeys(ours.annotations) != ReplicaWire.annotationKeys(other.annotations)
                {
                    line("annotations differ")
                } else if ours.modSeq != other.modSeq {
                    line("MODSEQ \(ours.modSeq) here, \(other.modSeq) on the replica")
                }
            default:
                continue
            }
        }
        return differences
    }

    private static func flags(_ record: ReplicaRecord) -> String {
        "(" + record.flags.all.map(\.name).sorted().joined(separator: " ") + ")"
    }
}
