import MailStore
import SyncCodec

/// A mailbox's `SYNC_CRC` and `SYNC_CRC_ANNOT` (sync-protocol §4).
public struct MailboxChecksums: Hashable, Sendable {
    /// `SYNC_CRC`.
    public var basic: UInt32
    /// `SYNC_CRC_ANNOT`.
    public var annotations: UInt32

    public init(basic: UInt32, annotations: UInt32) {
        self.basic = basic
        self.annotations = annotations
    }

    /// The checksums of a mailbox holding exactly `records` (expunged ones count in neither).
    public init(records: [ReplicaRecord]) {
        let (basic, annotations) = ReplicaWire.checksums(of: records)
        self.init(basic: basic, annotations: annotations)
    }

    /// The checksums of a mailbox without records.
    public static let empty = MailboxChecksums(basic: 0, annotations: SyncCRC.annotationInitialValue)

    /// One record's contribution to each: zero for a tombstone.
    static func contribution(of record: ReplicaRecord) -> MailboxChecksums {
        guard !record.isExpunged else { return MailboxChecksums(basic: 0, annotations: 0) }
        let crc = ReplicaWire.crcRecord(record)
        return MailboxChecksums(basic: SyncCRC.basic(crc), annotations: SyncCRC.annotations(crc))
    }

    /// Both values "match" the other side's as §4.4 defines it (0 is unknown).
    public func matches(_ other: MailboxChecksums) -> Bool {
        SyncCRC.matches(basic, other.basic) && SyncCRC.matches(annotations, other.annotations)
    }

    /// Both values XOR-ed with `other`'s: adds a record's contribution, or takes it out.
    mutating func toggle(_ other: MailboxChecksums) {
        basic ^= other.basic
        annotations ^= other.annotations
    }
}

extension MailboxChecksums: CustomStringConvertible {
    public var description: String { "\(basic)/\(annotations)" }
}
