import MailCore

/// Cyrus's mailbox checksums `SYNC_CRC` and `SYNC_CRC_ANNOT` (sync-protocol §4), pure
/// functions over ``SyncCRC/Record`` summaries.
///
/// Both are the XOR of one CRC-32 per non-expunged record, so they do not depend on record,
/// flag or annotation order and can be maintained incrementally (XOR a record in or out).
/// The algorithm is "locked in" since Cyrus 2.4/3.0; 3.6 and current master agree.
///
/// ```
/// crc_basic = CRC32("<uid> <modseq> <last_updated> (<flagcrc>) <internaldate> <guid>")
/// crc_annot = CRC32("<uid> <entry> <userid> <value>")
/// SYNC_CRC       = 0        XOR crc_basic(r)                       for each r not \Expunged
/// SYNC_CRC_ANNOT = 12345678 XOR crc_virt(r) XOR crc_annot(r, a)…   for each r not \Expunged
/// ```
public enum SyncCRC {
    /// The initial value of `SYNC_CRC_ANNOT` (decimal 12345678), so an empty mailbox has it.
    public static let annotationInitialValue: UInt32 = 12_345_678

    /// The index version of Cyrus 3.6 mailboxes, which decides which virtual annotations count.
    public static let cyrus36IndexVersion = 17

    /// The annotation names that carry index-record fields and count only through `crc_virt`.
    public static let virtualAnnotationEntries: Set<String> = [
        "/vendor/cmu/cyrus-imapd/thrid", "/vendor/cmu/cyrus-imapd/savedate",
        "/vendor/cmu/cyrus-imapd/createdmodseq", "/vendor/cmu/cyrus-imapd/basethrid",
    ]

    /// `SYNC_CRC` of a mailbox.
    public static func basic(of records: some Sequence<Record>) -> UInt32 {
        records.reduce(0) { $1.systemFlags.contains(.expunged) ? $0 : $0 ^ basic($1) }
    }

    /// `SYNC_CRC_ANNOT` of a mailbox.
    public static func annotations(
        of records: some Sequence<Record>,
        indexVersion: Int = cyrus36IndexVersion
    ) -> UInt32 {
        records.reduce(annotationInitialValue) {
            $1.systemFlags.contains(.expunged) ? $0 : $0 ^ annotations($1, indexVersion: indexVersion)
        }
    }

    /// One record's contribution to `SYNC_CRC` (`crc_basic`), whatever its flags.
    public static func basic(_ record: Record) -> UInt32 {
        let text =
            "\(record.uid) \(record.modseq) \(record.lastUpdated) (\(flagCRC(record))) "
            + "\(record.internalDate) \(record.guid.hex)"
        return crc32(text.utf8)
    }

    /// One record's contribution to `SYNC_CRC_ANNOT`: its virtual annotations (`crc_virt`)
    /// and its real per-message annotations, whatever its flags.
    public static func annotations(_ record: Record, indexVersion: Int = cyrus36IndexVersion) -> UInt32 {
        var crc: UInt32 = 0
        let prefix = "/vendor/cmu/cyrus-imapd/"
        if record.threadID != 0, indexVersion >= 13 {
            crc ^= annotationCRC(uid: record.uid, entry: prefix + "thrid", userID: "", value: hex(record.threadID))
        }
        if record.saveDate != 0, indexVersion >= 15 {
            crc ^= annotationCRC(uid: record.uid, entry: prefix + "savedate", userID: "", value: "\(record.saveDate)")
        }
        if record.createdModseq != 0, indexVersion >= 16 {
            crc ^= annotationCRC(
                uid: record.uid,
                entry: prefix + "createdmodseq",
                userID: "",
                value: "\(record.createdModseq)"
            )
        }
        for annotation in record.annotations
        where !annotation.value.isEmpty && !virtualAnnotationEntries.contains(annotation.entry) {
            crc ^= annotationCRC(
                uid: record.uid,
                entry: annotation.entry,
                userID: annotation.userID,
                value: annotation.value
            )
        }
        return crc
    }

    /// `crc_annot`: CRC-32 of `uid SP entry SP userid SP value`, the value's bytes raw. An empty
    /// user id (a shared value) gives two spaces in a row.
    public static func annotationCRC(uid: UInt32, entry: String, userID: String, value: some Sequence<UInt8>) -> UInt32
    {
        var bytes = Array("\(uid) \(entry) \(userID) ".utf8)
        bytes.append(contentsOf: value)
        return crc32(bytes)
    }

    /// `crc_annot` of a text value.
    static func annotationCRC(uid: UInt32, entry: String, userID: String, value: String) -> UInt32 {
        annotationCRC(uid: uid, entry: entry, userID: userID, value: Array(value.utf8))
    }

    /// `flagcrc`: XOR of CRC-32 over each flag's lower-case name, system flags as `\seen` etc.
    /// (`\Expunged` never counts), user flags ASCII-lower-cased, each distinct flag once.
    public static func flagCRC(_ record: Record) -> UInt32 {
        var crc: UInt32 = 0
        for (flag, name) in SyncSystemFlags.wireOrder where flag != .expunged && record.systemFlags.contains(flag) {
            crc ^= crc32(name.lowercased().utf8)
        }
        var seen: Set<[UInt8]> = []
        for userFlag in record.userFlags {
            let lower = userFlag.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
            if seen.insert(lower).inserted { crc ^= crc32(lower) }
        }
        return crc
    }

    /// The two CRC values "match" when either is 0 (unknown) or both are equal (§4.4).
    public static func matches(_ lhs: UInt32, _ rhs: UInt32) -> Bool {
        lhs == 0 || rhs == 0 || lhs == rhs
    }

    /// Lower-case hex without padding (`%llx`), as the thrid enters the CRC.
    static func hex(_ value: UInt64) -> String { String(value, radix: 16) }

    /// The standard zlib/IEEE CRC-32 (reflected 0xEDB88320, initial and final XOR 0xFFFFFFFF).
    public static func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 {
            value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1
        }
        return value
    }
}
