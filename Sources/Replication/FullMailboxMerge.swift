import MailCore
import MailStore

/// The master's half of a full update (sync-protocol §5.4): after `GET FULLMAILBOX`, the
/// master's and the replica's records are walked together in UID order and every difference
/// is settled on the master first, so the APPLY MAILBOX that follows carries the merged state.
/// Pure: the caller fetches the replica's messages, applies ``update`` to its own store,
/// expunges ``replicaExpunges`` on the replica and then sends the delta.
///
/// | situation (same UID unless said)             | on the master                                   |
/// |----------------------------------------------|-------------------------------------------------|
/// | both expunged                                | nothing                                         |
/// | GUIDs differ, both live (split brain)        | both get new UIDs, lower GUID first; the        |
/// |                                              | replica's copy is fetched, its UID expunged there |
/// | GUIDs differ, one side expunged              | the live one moves to a new UID                 |
/// | same GUID, master expunged                   | master wins                                     |
/// | same GUID, replica expunged                  | expunged here                                   |
/// | same GUID, replica MODSEQ and LAST_UPDATED   | the replica's flags and annotations win         |
/// |   both newer                                 |                                                 |
/// | same GUID, otherwise different               | master wins                                     |
/// | only here, UID ≤ replica LAST_UID            | new UID (the replica spent that UID)            |
/// | only here, above LAST_UID, MODSEQ not newer  | rewritten so the delta carries it               |
/// | only on the replica, UID ≤ our LAST_UID      | copied back under a new UID, expunged there     |
/// | only on the replica, UID > our LAST_UID      | copied back under the same UID                  |
/// | only on the replica, expunged                | nothing                                         |
///
/// Every record the master rewrites or adds gets a new MODSEQ above both sides' HIGHESTMODSEQ;
/// new UIDs start above both LAST_UIDs. UIDVALIDITY never changes except to adopt a higher
/// replica value. A message only the replica has is never dropped: Corvid never purges
/// expunged records, so there is no "purged long ago" case.
///
/// One guard Cyrus lacks: a replica message about to be copied back under a new UID whose GUID
/// the master already holds live above the replica's LAST_UID (the copy an interrupted earlier
/// merge made before its APPLY EXPUNGE reached the replica) is not copied a second time; its
/// replica UID is only expunged.
public struct FullMailboxMerge: Sendable {
    /// One decision, for the log, the report and the metrics.
    public struct Decision: Hashable, Sendable, CustomStringConvertible {
        public enum Kind: String, Hashable, Sendable, CaseIterable {
            /// A message only the replica had was copied to the master.
            case copiedBack = "copied_back"
            /// A master message moved to a new UID.
            case renumbered
            /// The same UID named different messages on the two sides (split brain).
            case guidConflict = "guid_conflict"
            /// The replica's flags and annotations were newer and replaced the master's.
            case replicaWon = "replica_won"
            /// The replica had expunged a message the master still had.
            case expungedHere = "expunged_here"
            /// A replica message already copied back by an interrupted run.
            case alreadyCopied = "already_copied"
            /// The replica's higher UIDVALIDITY was adopted.
            case uidValidityAdopted = "uidvalidity_adopted"
            /// A mailbox only the replica had was copied here whole.
            case mailboxCopiedBack = "mailbox_copied_back"
            /// A mailbox only the replica had shares its name with another one here: left alone.
            case mailboxConflict = "mailbox_conflict"
        }

        public var kind: Kind
        public var text: String
        public var description: String { text }
    }

    /// Replica records whose messages the master needs (`GET FETCH`, unless it already holds
    /// the GUID).
    public private(set) var fetches: [ReplicaRecord] = []
    /// The master's new state, for its own store in one transaction (force mode, based on the
    /// master's HIGHESTMODSEQ at planning time so a concurrent change makes it fail cleanly).
    public private(set) var update: ReplicaMailboxUpdate
    /// Replica UIDs to expunge with `APPLY EXPUNGE` once ``update`` is durable.
    public private(set) var replicaExpunges: [UID] = []
    public private(set) var decisions: [Decision] = []
    /// Whether the master's store has to change at all.
    public private(set) var changesMaster = false

    private var modSeq: UInt64
    private var nextUID: UInt32
    private var changed: [UID: ReplicaRecord] = [:]
    private let now: UnixTime
    private let name: String

    public init(master: ReplicaMailboxState, replica: ReplicaMailboxSummary, now: UnixTime) {
        let mailbox = master.mailbox
        name = mailbox.name.internalName
        self.now = now
        modSeq = max(mailbox.highestModSeq.rawValue, replica.highestModSeq)
        nextUID = max(mailbox.lastUID, replica.lastUID) + 1
        update = ReplicaMailboxUpdate(
            mailbox: mailbox,
            annotations: master.annotations,
            records: [],
            expectedHighestModSeq: mailbox.highestModSeq,
            force: true
        )
        walk(master: master, replica: replica)
        finish(master: master, replica: replica)
    }

    private mutating func walk(master: ReplicaMailboxState, replica: ReplicaMailboxSummary) {
        let mine = Dictionary(master.records.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        let theirs = Dictionary(replica.records.map { ($0.uid, $0) }, uniquingKeysWith: { first, _ in first })
        // Live master messages the replica has never seen: copies an interrupted merge made.
        let unseen = Set(
            master.records.lazy.filter { !$0.isExpunged && $0.uid.rawValue > replica.lastUID }.map(\.guid)
        )
        for uid in Set(mine.keys).union(theirs.keys).sorted() {
            switch (mine[uid], theirs[uid]) {
            case let (ours?, other?):
                settle(ours, other, unseen: unseen)
            case let (ours?, nil):
                guard !ours.isExpunged else { continue }
                if uid.rawValue <= replica.lastUID {
                    renumber(ours, because: "the replica already used that UID")
                } else if ours.modSeq.rawValue <= replica.highestModSeq {
                    rewrite(ours)
                }
            case let (nil, other?):
                guard !other.isExpunged else { continue }
                if uid.rawValue <= master.mailbox.lastUID {
                    copyBack(other, unseen: unseen, because: "only on the replica, at or below our LAST_UID")
                } else {
                    fetches.append(other)
                    add(other, as: other.uid)
                    decide(.copiedBack, "UID \(uid): only on the replica; copied back under the same UID")
                }
            case (nil, nil):
                continue
            }
        }
    }

    /// Both sides have the UID.
    private mutating func settle(_ ours: ReplicaRecord, _ other: ReplicaRecord, unseen: Set<MessageGUID>) {
        let uid = ours.uid
        if ours.isExpunged && other.isExpunged { return }
        if ours.guid != other.guid {
            if other.isExpunged {
                renumber(ours, because: "the replica holds another message, expunged, under it")
            } else if ours.isExpunged {
                copyBack(other, unseen: unseen, because: "we hold another message, expunged, under it")
            } else {
                decide(
                    .guidConflict,
                    "UID \(uid): GUID \(ours.guid.hex) here, \(other.guid.hex) on the replica (split brain); "
                        + "both kept under new UIDs"
                )
                if other.guid < ours.guid {
                    copyBack(other, unseen: unseen, because: "split brain")
                    renumber(ours, because: "split brain")
                } else {
                    renumber(ours, because: "split brain")
                    copyBack(other, unseen: unseen, because: "split brain")
                }
            }
            return
        }
        if Self.sameState(ours, other) { return }
        var merged = ours
        if ours.isExpunged {
            // Master wins: the delta carries the expunge.
        } else if other.isExpunged {
            merged.isExpunged = true
            decide(.expungedHere, "UID \(uid): expunged on the replica; expunged here too")
        } else if other.modSeq > ours.modSeq
            && ReplicaWire.seconds(other.lastUpdated) >= ReplicaWire.seconds(ours.lastUpdated)
        {
            merged.flags = other.flags
            merged.annotations = other.annotations.map {
                Annotation(uid: uid, entry: $0.entry, userID: $0.userID, value: $0.value, modSeq: $0.modSeq)
            }
            decide(.replicaWon, "UID \(uid): the replica's flags are newer and replace ours")
        }
        rewrite(merged)
    }

    /// Same GUID: every field the two sides compare (§5.4), annotations by value.
    static func sameState(_ ours: ReplicaRecord, _ other: ReplicaRecord) -> Bool {
        func values(_ record: ReplicaRecord) -> Set<ReplicaMailboxSummary.AnnotationKey> {
            ReplicaWire.annotationKeys(record.annotations)
        }
        func agree(_ a: UInt64, _ b: UInt64) -> Bool { a == 0 || b == 0 || a == b }
        return ours.modSeq == other.modSeq
            && ReplicaWire.seconds(ours.lastUpdated) == ReplicaWire.seconds(other.lastUpdated)
            && ReplicaWire.seconds(ours.internalDate) == ReplicaWire.seconds(other.internalDate)
            && ours.flags == other.flags
            && ours.isExpunged == other.isExpunged && values(ours) == values(other)
            && agree(ours.createdModSeq.rawValue, other.createdModSeq.rawValue)
            && agree(ReplicaWire.seconds(ours.saveDate), ReplicaWire.seconds(other.saveDate))
    }

    /// A master record rewritten with a new MODSEQ (and LAST_UPDATED), so the delta carries it.
    private mutating func rewrite(_ record: ReplicaRecord) {
        var record = record
        modSeq += 1
        record.modSeq = ModSeq(modSeq)
        record.lastUpdated = now
        changed[record.uid] = record
    }

    /// A message added under `uid` with a fresh MODSEQ.
    private mutating func add(_ record: ReplicaRecord, as uid: UID) {
        var record = record
        modSeq += 1
        record.uid = uid
        record.modSeq = ModSeq(modSeq)
        record.createdModSeq = ModSeq(modSeq)
        record.lastUpdated = now
        record.isExpunged = false
        record.annotations = record.annotations.map {
            Annotation(uid: uid, entry: $0.entry, userID: $0.userID, value: $0.value, modSeq: $0.modSeq)
        }
        changed[uid] = record
    }

    private mutating func allocateUID() -> UID {
        defer { nextUID += 1 }
        return UID(nextUID)
    }

    /// Our message moves to a new UID; the old one is expunged here.
    private mutating func renumber(_ ours: ReplicaRecord, because reason: String) {
        var gone = ours
        gone.isExpunged = true
        rewrite(gone)
        let uid = allocateUID()
        add(ours, as: uid)
        decide(.renumbered, "UID \(ours.uid): ours (GUID \(ours.guid.hex)) moved to UID \(uid); \(reason)")
    }

    /// The replica's message is appended here under a new UID and expunged there.
    private mutating func copyBack(_ other: ReplicaRecord, unseen: Set<MessageGUID>, because reason: String) {
        replicaExpunges.append(other.uid)
        if unseen.contains(other.guid) {
            decide(
                .alreadyCopied,
                "UID \(other.uid): the replica's message (GUID \(other.guid.hex)) is already here above its "
                    + "LAST_UID; only expunged there"
            )
            return
        }
        fetches.append(other)
        let uid = allocateUID()
        add(other, as: uid)
        decide(
            .copiedBack,
            "UID \(other.uid): the replica's message (GUID \(other.guid.hex)) copied back as UID \(uid); \(reason)"
        )
    }

    private mutating func decide(_ kind: Decision.Kind, _ text: String) {
        decisions.append(Decision(kind: kind, text: "\(name) \(text)"))
    }

    /// The header and mailbox annotations (§5.4 "afterwards").
    private mutating func finish(master: ReplicaMailboxState, replica: ReplicaMailboxSummary) {
        var mailbox = master.mailbox
        if replica.uidValidity > mailbox.uidValidity.rawValue {
            decide(
                .uidValidityAdopted,
                "UIDVALIDITY \(mailbox.uidValidity) here, \(replica.uidValidity) on the replica; adopted"
            )
            mailbox.uidValidity = UIDValidity(replica.uidValidity)
        }
        mailbox.lastUID = max(mailbox.lastUID, replica.lastUID, nextUID - 1)
        mailbox.highestModSeq = ModSeq(modSeq)
        mailbox.folderModSeq = ModSeq(max(mailbox.folderModSeq.rawValue, replica.folderModSeq ?? 0))
        // The side with the higher HIGHESTMODSEQ wins; the replica's entries are only merged in
        // when it wins (when the master wins, its set is imposed).
        var annotations = master.annotations
        if replica.highestModSeq > master.mailbox.highestModSeq.rawValue {
            for entry in replica.annotations {
                annotations.removeAll { $0.entry == entry.entry && $0.userID == entry.userID }
                annotations.append(Annotation(uid: nil, entry: entry.entry, userID: entry.userID, value: entry.value))
            }
        }
        let annotationsChanged =
            ReplicaWire.annotationKeys(annotations) != ReplicaWire.annotationKeys(master.annotations)
        changesMaster =
            !changed.isEmpty || mailbox != master.mailbox || annotationsChanged
        update.mailbox = mailbox
        update.annotations = annotations
        update.records = changed.values.sorted { $0.uid < $1.uid }
    }
}
