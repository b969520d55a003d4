import MailCore
import MailStore
import SyncCodec

/// How the store's replication values look on the csync wire (sync-protocol §3.2), both ways.
/// Pure functions: no I/O, no store access.
public enum ReplicaWire {
    /// Cyrus's annotation namespace for the virtual per-message annotations (§3.2.3).
    static let vendorPrefix = "/vendor/cmu/cyrus-imapd/"

    // MARK: Mailbox options (§3.2.1 OPTIONS)

    /// The four option bits csync carries, as Corvid keeps them in `Mailbox.options`.
    public static let optionLetters: [(letter: Character, bit: Int)] = [("P", 1), ("S", 2), ("D", 4), ("A", 8)]

    public static func optionsText(_ options: Int) -> String {
        String(optionLetters.filter { options & $0.bit != 0 }.map(\.letter))
    }

    public static func options(from text: String) -> Int {
        optionLetters.reduce(0) { text.contains($1.letter) ? $0 | $1.bit : $0 }
    }

    // MARK: Records

    /// The record as the checksums see it (§4).
    public static func crcRecord(_ record: ReplicaRecord) -> SyncCRC.Record {
        var system: SyncSystemFlags = []
        if record.flags.contains(.deleted) { system.insert(.deleted) }
        if record.flags.contains(.answered) { system.insert(.answered) }
        if record.flags.contains(.flagged) { system.insert(.flagged) }
        if record.flags.contains(.draft) { system.insert(.draft) }
        if record.flags.contains(.seen) { system.insert(.seen) }
        if record.isExpunged { system.insert(.expunged) }
        return SyncCRC.Record(
            uid: record.uid.rawValue,
            modseq: record.modSeq.rawValue,
            lastUpdated: Int64(record.lastUpdated.rounded(.down)),
            systemFlags: system,
            userFlags: record.flags.keywords.map(\.name),
            internalDate: Int64(record.internalDate.rounded(.down)),
            guid: record.guid,
            saveDate: UInt64(max(record.saveDate, 0).rounded(.down)),
            createdModseq: record.createdModSeq.rawValue,
            annotations: record.annotations.compactMap { annotation in
                annotation.value.map {
                    SyncCRC.Annotation(entry: annotation.entry, userID: annotation.userID, value: $0)
                }
            }
        )
    }

    /// `SYNC_CRC` and `SYNC_CRC_ANNOT` of a mailbox's records (expunged ones count in neither).
    public static func checksums(of records: [ReplicaRecord]) -> (basic: UInt32, annotations: UInt32) {
        let crcRecords = records.map(crcRecord)
        return (SyncCRC.basic(of: crcRecords), SyncCRC.annotations(of: crcRecords))
    }

    /// A `RECORD` entry (§3.2.2), with the virtual annotations Cyrus 3.6 adds.
    public static func recordItem(_ record: ReplicaRecord) -> DList {
        let crc = crcRecord(record)
        var annotations: [DList] = record.annotations
            .compactMap { annotation -> (String, String, [UInt8], UInt64)? in
                guard let value = annotation.value else { return nil }
                return (annotation.entry, annotation.userID, value, annotation.modSeq?.rawValue ?? 0)
            }
            .sorted { lhs, rhs in
                // Cyrus's order: (ENTRY, USERID, VALUE), bytewise.
                if lhs.0 != rhs.0 { return lhs.0 < rhs.0 }
                if lhs.1 != rhs.1 { return lhs.1 < rhs.1 }
                return lhs.2.lexicographicallyPrecedes(rhs.2)
            }
            .map { annotationItem(entry: $0.0, userID: $0.1, modSeq: $0.3, value: $0.2) }
        if crc.saveDate != 0 {
            annotations.append(
                annotationItem(
                    entry: vendorPrefix + "savedate",
                    userID: "",
                    modSeq: 0,
                    value: Array(String(crc.saveDate).utf8)
                )
            )
        }
        if crc.createdModseq != 0 {
            annotations.append(
                annotationItem(
                    entry: vendorPrefix + "createdmodseq",
                    userID: "",
                    modSeq: 0,
                    value: Array(String(crc.createdModseq).utf8)
                )
            )
        }
        var items: [DList.Item] = [
            .init("UID", .number(UInt64(record.uid.rawValue))),
            .init("MODSEQ", .number(record.modSeq.rawValue)),
            .init("LAST_UPDATED", .number(UInt64(max(crc.lastUpdated, 0)))),
            .init("FLAGS", crc.systemFlags.flagsList(userFlags: crc.userFlags)),
            .init("INTERNALDATE", .number(UInt64(max(crc.internalDate, 0)))),
            .init("SIZE", .number(UInt64(max(record.size, 0)))),
            .init("GUID", .string(record.guid.hex)),
        ]
        if !annotations.isEmpty { items.append(.init("ANNOTATIONS", .list(annotations))) }
        return .kvlist(items)
    }

    static func annotationItem(entry: String, userID: String, modSeq: UInt64, value: [UInt8]) -> DList {
        .kvlist([
            .init("ENTRY", .string(entry)), .init("USERID", .string(userID)), .init("MODSEQ", .number(modSeq)),
            .init("VALUE", .string(value)),
        ])
    }

    /// Reads a `RECORD` entry; nil when a required field is missing or malformed.
    public static func record(from entry: DList) -> ReplicaRecord? {
        guard let crc = SyncCRC.Record(entry), let size = entry.number(for: "SIZE") else { return nil }
        var flags = FlagSet()
        for (system, flag) in [
            (SyncSystemFlags.deleted, Flag.deleted), (.answered, .answered), (.flagged, .flagged), (.draft, .draft),
            (.seen, .seen),
        ] where crc.systemFlags.contains(system) {
            flags.insert(flag)
        }
        for name in crc.userFlags {
            guard let keyword = Flag(name) else { return nil }
            flags.insert(keyword)
        }
        var annotations: [Annotation] = []
        for item in entry.list(for: "ANNOTATIONS") ?? [] {
            guard let name = item.text(for: "ENTRY"), !name.hasPrefix(vendorPrefix),
                let userID = item.text(for: "USERID"), let value = item["VALUE"]?.bytesValue
            else { continue }
            annotations.append(
                Annotation(
                    uid: UID(crc.uid),
                    entry: name,
                    userID: userID,
                    value: value,
                    modSeq: item.number(for: "MODSEQ").map { ModSeq($0) }
                )
            )
        }
        return ReplicaRecord(
            uid: UID(crc.uid),
            modSeq: ModSeq(crc.modseq),
            lastUpdated: UnixTime(crc.lastUpdated),
            internalDate: UnixTime(crc.internalDate),
            saveDate: UnixTime(crc.saveDate),
            createdModSeq: ModSeq(crc.createdModseq),
            size: Int64(size),
            guid: crc.guid,
            flags: flags,
            isExpunged: crc.systemFlags.contains(.expunged),
            annotations: annotations
        )
    }

    // MARK: Mailboxes

    /// The `MAILBOX` item of a GET reply (§3.2.1), fields in Cyrus's order; `RECORD` only for
    /// GET FULLMAILBOX. The checksums are `checksums`, or else computed from `state.records`,
    /// which must then hold every record.
    public static func mailboxItem(
        _ state: ReplicaMailboxState,
        includeRecords: Bool,
        checksums given: MailboxChecksums? = nil
    ) -> DList {
        let mailbox = state.mailbox
        let (crc, crcAnnotations) = given.map { ($0.basic, $0.annotations) } ?? checksums(of: state.records)
        var items: [DList.Item] = [
            .init("UNIQUEID", .string(mailbox.uniqueID)),
            .init("MBOXNAME", .string(mailbox.name.internalName)),
            .init("SYNC_CRC", .number(UInt64(crc))),
            .init("SYNC_CRC_ANNOT", .number(UInt64(crcAnnotations))),
            .init("LAST_UID", .number(UInt64(mailbox.lastUID))),
            .init("HIGHESTMODSEQ", .number(mailbox.highestModSeq.rawValue)),
            .init("RECENTUID", .number(UInt64(mailbox.recentUID))),
            .init("RECENTTIME", .number(seconds(mailbox.recentTime))),
            .init("LAST_APPENDDATE", .number(seconds(mailbox.lastAppendDate))),
            .init("POP3_LAST_LOGIN", .number(seconds(mailbox.pop3LastLogin))),
            .init("POP3_SHOW_AFTER", .number(seconds(mailbox.pop3ShowAfter))),
            .init("UIDVALIDITY", .number(UInt64(mailbox.uidValidity.rawValue))),
            .init("PARTITION", .string(mailbox.partition)),
            .init("ACL", .string(mailbox.acl.cyrusString)),
            .init("OPTIONS", .string(optionsText(mailbox.options))),
        ]
        if let root = mailbox.quotaRoot { items.append(.init("QUOTAROOT", .string(root))) }
        items.append(.init("CREATEDMODSEQ", .number(mailbox.createdModSeq.rawValue)))
        items.append(.init("FOLDERMODSEQ", .number(mailbox.folderModSeq.rawValue)))
        let annotations = mailboxAnnotationItems(state.annotations)
        if !annotations.isEmpty { items.append(.init("ANNOTATIONS", .list(annotations))) }
        if includeRecords { items.append(.init("RECORD", .list(state.records.map(recordItem)))) }
        return .kvlist(items)
    }

    static func mailboxAnnotationItems(_ annotations: [Annotation]) -> [DList] {
        annotations
            .compactMap { annotation -> (String, String, [UInt8], UInt64)? in
                guard let value = annotation.value else { return nil }
                return (annotation.entry, annotation.userID, value, annotation.modSeq?.rawValue ?? 0)
            }
            .sorted { ($0.0, $0.1) < ($1.0, $1.1) }
            .map { annotationItem(entry: $0.0, userID: $0.1, modSeq: $0.3, value: $0.2) }
    }

    static func seconds(_ time: UnixTime) -> UInt64 { UInt64(max(time, 0).rounded(.down)) }

    /// An `APPLY MAILBOX` payload, read (§3.4.3 step 1).
    public struct MailboxApply: Sendable {
        public var update: ReplicaMailboxUpdate
        /// `MBOXTYPE` letters as sent ("" for an ordinary mail folder).
        public var type: String
        public var sinceModSeq: UInt64
        public var sinceCRC: UInt32
        public var sinceCRCAnnotations: UInt32
        public var syncCRC: UInt32
        public var syncCRCAnnotations: UInt32
    }

    /// Why an `APPLY MAILBOX` payload was refused before touching anything.
    public struct PayloadError: Error, Hashable, Sendable {
        public let detail: String
    }

    /// Reads an `APPLY MAILBOX` kvlist. Intermediate entries (`MBOXTYPE` with `i`) need only the
    /// identity fields and become empty mailboxes; everything else needs the full field set.
    public static func mailboxApply(_ items: [DList.Item], force: Bool) throws(PayloadError) -> MailboxApply {
        let payload = DList.kvlist(items)
        guard let uniqueID = payload.text(for: "UNIQUEID"), !uniqueID.isEmpty else {
            throw PayloadError(detail: "UNIQUEID missing")
        }
        guard let nameText = payload.text(for: "MBOXNAME"), let name = try? MailboxName(internal: nameText) else {
            throw PayloadError(detail: "MBOXNAME missing or invalid")
        }
        guard let highest = payload.number(for: "HIGHESTMODSEQ") else {
            throw PayloadError(detail: "HIGHESTMODSEQ missing")
        }
        let type = payload.text(for: "MBOXTYPE") ?? ""
        let intermediate = type.contains("i")
        func number(_ key: String) throws(PayloadError) -> UInt64 {
            if let value = payload.number(for: key) { return value }
            if intermediate { return 0 }
            throw PayloadError(detail: "\(key) missing")
        }
        let partition = payload.text(for: "PARTITION") ?? (intermediate ? "default" : "")
        guard !partition.isEmpty else { throw PayloadError(detail: "PARTITION missing") }
        let aclText = payload.text(for: "ACL") ?? (intermediate ? "" : nil)
        guard let aclText, let acl = ACL(cyrusString: aclText) else {
            throw PayloadError(detail: "ACL missing or invalid")
        }
        guard intermediate || payload["OPTIONS"] != nil else { throw PayloadError(detail: "OPTIONS missing") }
        guard intermediate || payload.list(for: "RECORD") != nil else { throw PayloadError(detail: "RECORD missing") }
        var records: [ReplicaRecord] = []
        var previous: UInt32 = 0
        for entry in payload.list(for: "RECORD") ?? [] {
            guard let record = record(from: entry) else { throw PayloadError(detail: "malformed RECORD entry") }
            guard record.uid.rawValue > previous else {
                throw PayloadError(detail: "RECORD not in ascending UID order")
            }
            previous = record.uid.rawValue
            records.append(record)
        }
        var annotations: [Annotation] = []
        for item in payload.list(for: "ANNOTATIONS") ?? [] {
            guard let entry = item.text(for: "ENTRY"), let userID = item.text(for: "USERID"),
                let value = item["VALUE"]?.bytesValue
            else { throw PayloadError(detail: "malformed ANNOTATIONS entry") }
            annotations.append(
                Annotation(
                    uid: nil,
                    entry: entry,
                    userID: userID,
                    value: value,
                    modSeq: item.number(for: "MODSEQ").map { ModSeq($0) }
                )
            )
        }
        let uidValidity = try number("UIDVALIDITY")
        let lastUID = try number("LAST_UID")
        guard let validity = UInt32(exactly: uidValidity), let last = UInt32(exactly: lastUID),
            let recentUID = UInt32(exactly: try number("RECENTUID"))
        else { throw PayloadError(detail: "a 32-bit field is out of range") }
        let mailbox = Mailbox(
            uniqueID: uniqueID,
            name: name,
            partition: partition,
            acl: acl,
            uidValidity: UIDValidity(validity == 0 ? 1 : validity),
            lastUID: last,
            highestModSeq: ModSeq(highest),
            createdModSeq: ModSeq(payload.number(for: "CREATEDMODSEQ") ?? 0),
            folderModSeq: ModSeq(payload.number(for: "FOLDERMODSEQ") ?? highest),
            recentUID: recentUID,
            recentTime: UnixTime(try number("RECENTTIME")),
            lastAppendDate: UnixTime(try number("LAST_APPENDDATE")),
            pop3LastLogin: UnixTime(try number("POP3_LAST_LOGIN")),
            pop3ShowAfter: UnixTime(payload.number(for: "POP3_SHOW_AFTER") ?? 0),
            options: options(from: payload.text(for: "OPTIONS") ?? ""),
            mailboxType: 0
        )
        let update = ReplicaMailboxUpdate(
            mailbox: mailbox,
            annotations: annotations,
            records: records,
            expectedHighestModSeq: nil,
            force: force
        )
        return MailboxApply(
            update: update,
            type: type,
            sinceModSeq: payload.number(for: "SINCE_MODSEQ") ?? 0,
            sinceCRC: payload.number32(for: "SINCE_CRC") ?? 0,
            sinceCRCAnnotations: payload.number32(for: "SINCE_CRC_ANNOT") ?? 0,
            syncCRC: payload.number32(for: "SYNC_CRC") ?? 0,
            syncCRCAnnotations: payload.number32(for: "SYNC_CRC_ANNOT") ?? 0
        )
    }

    // MARK: Other items (§3.2.4)

    /// `QUOTA %(ROOT … LIMIT … [STORAGE n] [MESSAGE n] MODSEQ …)`.
    public static func quotaItem(_ root: QuotaRoot) -> DList {
        var items: [DList.Item] = [
            .init("ROOT", .string(root.root)),
            .init("LIMIT", .number(root.storageLimitKiB.map { UInt64(max($0, 0)) } ?? 4_294_967_295)),
        ]
        if let storage = root.storageLimitKiB { items.append(.init("STORAGE", .number(UInt64(max(storage, 0))))) }
        if let messages = root.messageLimit { items.append(.init("MESSAGE", .number(UInt64(max(messages, 0))))) }
        items.append(.init("MODSEQ", .number(0)))
        return .kvlist(items)
    }

    /// Reads `APPLY QUOTA`: (root, limits); an absent resource is unlimited, `LIMIT 4294967295` too.
    public static func quota(from items: [DList.Item]) -> (String, QuotaLimits)? {
        let payload = DList.kvlist(items)
        guard let root = payload.text(for: "ROOT"), !root.isEmpty else { return nil }
        var limits = QuotaLimits()
        if let storage = payload.number(for: "STORAGE") {
            limits.storageKiB = Int64(clamping: storage)
        } else if let limit = payload.number(for: "LIMIT"), limit != 4_294_967_295 {
            limits.storageKiB = Int64(clamping: limit)
        }
        if let messages = payload.number(for: "MESSAGE") { limits.messages = Int64(clamping: messages) }
        return (root, limits)
    }

    /// `SEEN %(UNIQUEID LASTREAD LASTUID LASTCHANGE SEENUIDS)`.
    public static func seenItem(uniqueID: String, _ state: SeenState) -> DList {
        .kvlist([
            .init("UNIQUEID", .string(uniqueID)), .init("LASTREAD", .number(seconds(state.lastRead))),
            .init("LASTUID", .number(UInt64(state.lastUID))), .init("LASTCHANGE", .number(seconds(state.lastChange))),
            .init("SEENUIDS", .string(state.seenUIDs)),
        ])
    }
}
