import MailCore
import MailStore
import SyncCodec

// The master's half of ReplicaWire: reading what a replica reports (GET USER, GET MAILBOXES,
// GET FULLMAILBOX) and writing the APPLY payloads a master sends (sync-protocol §3.2, §3.4).

/// A mailbox as a replica reports it in a GET reply (§3.2.1), with the fields the master's
/// "is it unchanged?" test and delta need (§4.4, §5.2).
public struct ReplicaMailboxSummary: Hashable, Sendable {
    public var uniqueID: String
    /// The internal name, as sent (the replica's name for it).
    public var name: String
    /// `MBOXTYPE` letters ("" for an ordinary mail folder).
    public var type: String
    public var syncCRC: UInt32
    public var syncCRCAnnotations: UInt32
    public var lastUID: UInt32
    public var highestModSeq: UInt64
    public var recentUID: UInt32
    public var recentTime: UInt64
    public var pop3LastLogin: UInt64
    public var pop3ShowAfter: UInt64
    public var uidValidity: UInt32
    public var partition: String
    /// The ACL string exactly as sent.
    public var acl: String
    /// `OPTIONS` letters as sent.
    public var options: String
    /// `FOLDERMODSEQ`, when the replica sent one.
    public var folderModSeq: UInt64?
    /// Mailbox annotations as (entry, userid, value); their MODSEQ is not compared.
    public var annotations: Set<AnnotationKey>
    /// The records of a GET FULLMAILBOX reply (empty for GET USER / GET MAILBOXES).
    public var records: [ReplicaRecord]

    /// One mailbox annotation without its modseq.
    public struct AnnotationKey: Hashable, Sendable {
        public var entry: String
        public var userID: String
        public var value: [UInt8]

        public init(entry: String, userID: String, value: [UInt8]) {
            self.entry = entry
            self.userID = userID
            self.value = value
        }
    }
}

extension ReplicaWire {
    /// Reads a `MAILBOX` item of a GET reply; nil when an identity field is missing. Numbers the
    /// replica omitted read as 0 (an intermediate entry sends only some of them).
    ///
    /// ```
    /// mailbox = "%(" "UNIQUEID" SP atom SP "MBOXNAME" SP astring [SP "MBOXTYPE" SP atom]
    ///           SP "SYNC_CRC" SP num32 … [SP "RECORD" SP "(" *record ")"] ")"
    /// ```
    public static func replicaMailbox(from value: DList) -> ReplicaMailboxSummary? {
        guard let uniqueID = value.text(for: "UNIQUEID"), let name = value.text(for: "MBOXNAME") else { return nil }
        var annotations: Set<ReplicaMailboxSummary.AnnotationKey> = []
        for item in value.list(for: "ANNOTATIONS") ?? [] {
            guard let entry = item.text(for: "ENTRY"), let userID = item.text(for: "USERID"),
                let bytes = item["VALUE"]?.bytesValue
            else { continue }
            annotations.insert(.init(entry: entry, userID: userID, value: bytes))
        }
        return ReplicaMailboxSummary(
            uniqueID: uniqueID,
            name: name,
            type: value.text(for: "MBOXTYPE") ?? "",
            syncCRC: value.number32(for: "SYNC_CRC") ?? 0,
            syncCRCAnnotations: value.number32(for: "SYNC_CRC_ANNOT") ?? 0,
            lastUID: value.number32(for: "LAST_UID") ?? 0,
            highestModSeq: value.number(for: "HIGHESTMODSEQ") ?? 0,
            recentUID: value.number32(for: "RECENTUID") ?? 0,
            recentTime: value.number(for: "RECENTTIME") ?? 0,
            pop3LastLogin: value.number(for: "POP3_LAST_LOGIN") ?? 0,
            pop3ShowAfter: value.number(for: "POP3_SHOW_AFTER") ?? 0,
            uidValidity: value.number32(for: "UIDVALIDITY") ?? 0,
            partition: value.text(for: "PARTITION") ?? "",
            acl: value.text(for: "ACL") ?? "",
            options: value.text(for: "OPTIONS") ?? "",
            folderModSeq: value.number(for: "FOLDERMODSEQ"),
            annotations: annotations,
            records: (value.list(for: "RECORD") ?? []).compactMap(record(from:))
        )
    }

    /// The mailbox annotations of a local state, as the replica's summary holds them.
    public static func annotationKeys(_ annotations: [Annotation]) -> Set<ReplicaMailboxSummary.AnnotationKey> {
        Set(
            annotations.compactMap { annotation in
                annotation.value.map { .init(entry: annotation.entry, userID: annotation.userID, value: $0) }
            }
        )
    }

    /// The `SINCE_*` values of a delta: the replica state the records are based on.
    public struct Since: Hashable, Sendable {
        public var modSeq: UInt64
        public var crc: UInt32
        public var crcAnnotations: UInt32

        public init(modSeq: UInt64, crc: UInt32, crcAnnotations: UInt32) {
            self.modSeq = modSeq
            self.crc = crc
            self.crcAnnotations = crcAnnotations
        }
    }

    /// Writes an `APPLY MAILBOX` payload (§3.4.3) in Cyrus's field order, every field the
    /// replica requires present even when zero (§8 item 18). The checksums are `checksums`,
    /// or else computed from `state.records`, which must then hold every record; `records` is
    /// what is sent (a delta, in ascending UID order, or all of them).
    ///
    /// ```
    /// C: APPLY MAILBOX %(UNIQUEID … MBOXNAME user.alice SYNC_CRC … SYNC_CRC_ANNOT … LAST_UID 4
    ///    HIGHESTMODSEQ 11 … SINCE_MODSEQ 9 SINCE_CRC … SINCE_CRC_ANNOT … RECORD (…))
    /// ```
    public static func mailboxApplyItem(
        _ state: ReplicaMailboxState,
        records: [ReplicaRecord],
        since: Since?,
        checksums: MailboxChecksums? = nil
    ) -> DList {
        guard case .kvlist(var items) = mailboxItem(state, includeRecords: false, checksums: checksums) else {
            return .kvlist([])
        }
        if let since {
            items.append(.init("SINCE_MODSEQ", .number(since.modSeq)))
            items.append(.init("SINCE_CRC", .number(UInt64(since.crc))))
            items.append(.init("SINCE_CRC_ANNOT", .number(UInt64(since.crcAnnotations))))
        }
        items.append(.init("RECORD", .list(records.sorted { $0.uid < $1.uid }.map(recordItem))))
        return .kvlist(items)
    }

    /// Reads a `QUOTA` data item (§3.2.4) into a root and its limits.
    public static func quotaRoot(from value: DList) -> QuotaRoot? {
        guard let (root, limits) = quota(from: value.kvlistValue ?? []) else { return nil }
        return QuotaRoot(root: root, storageLimitKiB: limits.storageKiB, messageLimit: limits.messages)
    }

    /// Reads a `SEEN` data item (§3.2.4): the mailbox uniqueid and the state.
    public static func seen(from value: DList) -> (uniqueID: String, state: SeenState)? {
        guard let uniqueID = value.text(for: "UNIQUEID") else { return nil }
        return (
            uniqueID,
            SeenState(
                lastRead: UnixTime(value.number(for: "LASTREAD") ?? 0),
                lastUID: value.number32(for: "LASTUID") ?? 0,
                lastChange: UnixTime(value.number(for: "LASTCHANGE") ?? 0),
                seenUIDs: value.text(for: "SEENUIDS") ?? ""
            )
        )
    }

    /// `APPLY SEEN %(USERID … UNIQUEID … LASTREAD … LASTUID … LASTCHANGE … SEENUIDS …)` (§3.4.7).
    public static func seenApplyItem(user: UserName, uniqueID: String, _ state: SeenState) -> DList {
        guard case .kvlist(let items) = seenItem(uniqueID: uniqueID, state) else { return .kvlist([]) }
        return .kvlist([.init("USERID", .string(user.name))] + items)
    }
}
