import MailCore

extension SyncCRC {
    /// What the checksums need to know about one message record (sync-protocol §4).
    public struct Record: Hashable, Sendable {
        /// The record's UID.
        public var uid: UInt32
        /// The record's modseq.
        public var modseq: UInt64
        /// Seconds since the epoch (Cyrus formats it with `%ld`).
        public var lastUpdated: Int64
        /// System flags; a record with `.expunged` counts in neither checksum.
        public var systemFlags: SyncSystemFlags
        /// Keywords, in any order and case.
        public var userFlags: [String]
        /// Seconds since the epoch.
        public var internalDate: Int64
        /// The message GUID.
        public var guid: MessageGUID
        /// SAVEDATE, 0 when unset.
        public var saveDate: UInt64
        /// The record's createdmodseq, 0 when unset.
        public var createdModseq: UInt64
        /// The conversation id (thrid), 0 without conversations.
        public var threadID: UInt64
        /// Real per-message annotations.
        public var annotations: [Annotation]

        /// A record summary; the optional fields default to "unset".
        public init(
            uid: UInt32,
            modseq: UInt64,
            lastUpdated: Int64,
            systemFlags: SyncSystemFlags = [],
            userFlags: [String] = [],
            internalDate: Int64,
            guid: MessageGUID,
            saveDate: UInt64 = 0,
            createdModseq: UInt64 = 0,
            threadID: UInt64 = 0,
            annotations: [Annotation] = []
        ) {
            self.uid = uid
            self.modseq = modseq
            self.lastUpdated = lastUpdated
            self.systemFlags = systemFlags
            self.userFlags = userFlags
            self.internalDate = internalDate
            self.guid = guid
            self.saveDate = saveDate
            self.createdModseq = createdModseq
            self.threadID = threadID
            self.annotations = annotations
        }

        /// Reads a `RECORD` entry of an `APPLY MAILBOX` or `GET FULLMAILBOX` reply (§3.2.2):
        /// UID, MODSEQ, LAST_UPDATED, FLAGS, INTERNALDATE and GUID are required; the virtual
        /// annotations (savedate, createdmodseq, thrid) fill their fields. Nil when a required
        /// field is missing or does not convert.
        public init?(_ entry: DList) {
            guard let uid = entry.number32(for: "UID"), let modseq = entry.number(for: "MODSEQ"),
                let lastUpdated = entry.number(for: "LAST_UPDATED").flatMap({ Int64(exactly: $0) }),
                let flags = entry.list(for: "FLAGS"),
                let internalDate = entry.number(for: "INTERNALDATE").flatMap({ Int64(exactly: $0) }),
                let guid = entry.guid(for: "GUID")
            else { return nil }
            let (system, user) = SyncSystemFlags.parse(flags)
            self.init(
                uid: uid,
                modseq: modseq,
                lastUpdated: lastUpdated,
                systemFlags: system,
                userFlags: user,
                internalDate: internalDate,
                guid: guid
            )
            for annotation in entry.list(for: "ANNOTATIONS") ?? [] {
                guard let name = annotation.text(for: "ENTRY"), let userID = annotation.text(for: "USERID"),
                    let value = annotation["VALUE"]?.bytesValue
                else { continue }
                switch name {
                case "/vendor/cmu/cyrus-imapd/savedate": saveDate = DListGrammar.decimal(value) ?? 0
                case "/vendor/cmu/cyrus-imapd/createdmodseq": createdModseq = DListGrammar.decimal(value) ?? 0
                case "/vendor/cmu/cyrus-imapd/thrid":
                    threadID = UInt64(String(decoding: value, as: UTF8.self), radix: 16) ?? 0
                default: annotations.append(Annotation(entry: name, userID: userID, value: value))
                }
            }
        }
    }

    /// A real per-message annotation: entry name, user id (`""` for a shared value), value.
    public struct Annotation: Hashable, Sendable {
        /// The entry name, e.g. `/comment`.
        public var entry: String
        /// The owner of a private value, or `""` for the shared value.
        public var userID: String
        /// The value's bytes; an empty value is not stored and does not count.
        public var value: [UInt8]

        /// An annotation value.
        public init(entry: String, userID: String, value: [UInt8]) {
            self.entry = entry
            self.userID = userID
            self.value = value
        }
    }
}
