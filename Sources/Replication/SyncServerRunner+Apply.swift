import MailCore
import MailStore
import NIOCore
import SyncCodec

extension SyncServerRunner {
    /// APPLY commands (sync-protocol §3.4): each one store transaction, one status line.
    func apply(_ item: DList.Item, fileProblems: [String]) async {
        let payload = item.value
        do {
            switch item.key {
            case "RESERVE":
                try await reserve(payload)
            case "MESSAGE":
                // The files were staged as they arrived; refuse the line if any was bad.
                guard fileProblems.isEmpty else {
                    logger.notice(
                        "csync upload refused",
                        metadata: ["problems": "\(fileProblems.joined(separator: "; "))"]
                    )
                    return send(SyncStatus(.no, code: .protocolError, text: fileProblems[0]))
                }
            case "MAILBOX", "LOCAL_MAILBOX":
                return await applyMailbox(payload)
            case "UNMAILBOX", "LOCAL_UNMAILBOX":
                guard let name = mailboxName(payload.textValue) else { return send(.no(.protocolBadParameters)) }
                try await store.deleteMailbox(name)
                logger.info("csync deleted mailbox", metadata: ["mailbox": "\(name)"])
            case "RENAME", "LOCAL_RENAME":
                guard let old = mailboxName(payload.text(for: "OLDMBOXNAME")),
                    let new = mailboxName(payload.text(for: "NEWMBOXNAME")),
                    let partition = payload.text(for: "PARTITION")
                else { return send(.no(.protocolBadParameters)) }
                guard configuration.partitions.contains(partition) else { return send(unknownPartition(partition)) }
                guard !old.isInbox else {
                    // The store's INBOX rename is IMAP's (messages move, the INBOX stays).
                    return send(
                        SyncStatus(
                            .no,
                            code: .mailboxNotSupported,
                            text: "Renaming a user's INBOX is not replicated yet"
                        )
                    )
                }
                try await rename(old, to: new, uidValidity: payload.number32(for: "UIDVALIDITY"))
            case "EXPUNGE":
                guard let name = mailboxName(payload.text(for: "MBOXNAME")),
                    let uniqueID = payload.text(for: "UNIQUEID"),
                    let list = payload.list(for: "UID")
                else { return send(.no(.protocolBadParameters)) }
                let uids = list.compactMap(\.number32Value).map { UID($0) }
                try await store.expungeReplicaRecords(uids: uids, in: name, uniqueID: uniqueID)
            case "SEEN":
                guard let user = userName(payload.text(for: "USERID")), let uniqueID = payload.text(for: "UNIQUEID"),
                    let lastRead = payload.number(for: "LASTREAD"), let lastUID = payload.number32(for: "LASTUID"),
                    let lastChange = payload.number(for: "LASTCHANGE"), let seen = payload.text(for: "SEENUIDS")
                else { return send(.no(.protocolBadParameters)) }
                let state = SeenState(
                    lastRead: UnixTime(lastRead),
                    lastUID: lastUID,
                    lastChange: UnixTime(lastChange),
                    seenUIDs: seen
                )
                try await store.setSeenState(state, of: user, mailboxUniqueID: uniqueID)
            case "SUB", "UNSUB":
                guard let user = userName(payload.text(for: "USERID")),
                    let name = mailboxName(payload.text(for: "MBOXNAME"))
                else { return send(.no(.protocolBadParameters)) }
                if item.key == "SUB" {
                    try await store.subscribe(user, to: name)
                } else {
                    try await store.unsubscribe(user, from: name)
                }
            case "QUOTA":
                guard let (root, limits) = ReplicaWire.quota(from: payload.kvlistValue ?? []) else {
                    return send(.no(.protocolBadParameters))
                }
                try await store.setQuota(root, limits: limits)
            case "UNQUOTA":
                guard let root = payload.textValue, !root.isEmpty else { return send(.no(.protocolBadParameters)) }
                try await store.deleteQuotaRoot(root)
            case "ANNOTATION", "UNANNOTATION":
                try await applyAnnotation(payload, remove: item.key == "UNANNOTATION")
            case "UNUSER", "LOCAL_UNUSER":
                guard let text = payload.textValue else { return send(.no(.protocolBadParameters)) }
                if !text.isEmpty, let user = userName(text) { try await removeUser(user) }
            case "CAPABILITIES":
                // SIEVE-MAILBOX is not offered until Sieve scripts are stored.
                sendData("ENABLED", .list([]))
            case "FORCE":
                session.forceReceived()
                logger.notice("csync: APPLY FORCE, the master's state is imposed for this session")
            case "SIEVE", "UNSIEVE", "ACTIVATE_SIEVE", "UNACTIVATE_SIEVE":
                logger.notice(
                    "csync: sieve scripts are not stored yet; accepted and ignored",
                    metadata: ["command": "\(item.key)"]
                )
            case "X-CORVID-PROMOTE" where configuration.promotionAvailable:
                guard let epoch = payload.number(for: "EPOCH") else { return send(.no(.protocolBadParameters)) }
                try await promote(epoch: Int64(clamping: epoch), from: payload.text(for: "FROM") ?? "an unnamed master")
            default:
                return send(.no(.protocolError))
            }
            send(.success)
        } catch {
            send(status(for: error))
        }
    }

    /// `APPLY X-CORVID-PROMOTE %(EPOCH n FROM host)` (`corvid failover`): this store becomes
    /// the master, durably, unless it already holds a role from a later failover.
    func promote(epoch: Int64, from master: String) async throws(MailStoreError) {
        if let current = try await store.replicationRole(), current.epoch >= epoch {
            throw MailStoreError(.syncChanged, "this store's role is from epoch \(current.epoch), not before \(epoch)")
        }
        try await store.setReplicationRole(
            ReplicationRole(
                state: .master,
                epoch: epoch,
                since: systemUnixTime(),
                note: "promoted by a failover from \(master)"
            )
        )
        logger.warning("csync: promoted to master by a failover", metadata: ["epoch": "\(epoch)", "from": "\(master)"])
    }

    /// APPLY UNUSER (§3.4.12): the user's subscriptions, mailboxes (deepest first, INBOX last)
    /// and quota root; a replica may hold a user's mailboxes without an account for them.
    func removeUser(_ user: UserName) async throws(MailStoreError) {
        for name in try await store.subscriptions(of: user) { try await store.unsubscribe(user, from: name) }
        do {
            try await store.deleteUser(user)
        } catch  where error.code == .nonexistent {
            let mailboxes = try await store.mailboxes(under: .inbox(of: user))
            for mailbox in mailboxes.sorted(by: { $0.name.components.count > $1.name.components.count }) {
                try await store.deleteMailbox(mailbox.name)
            }
            try await store.deleteQuotaRoot(MailboxName.inbox(of: user).internalName)
        }
        logger.info("csync deleted user", metadata: ["user": "\(user.name)"])
    }

    /// APPLY RENAME (§3.4.5). The store renames a mailbox with its subtree, while a Cyrus master
    /// sends one RENAME per mailbox of the subtree, parent first: a RENAME whose source is gone
    /// and whose target exists (with the UIDVALIDITY given, when given) is already done, which
    /// also makes a repeated RENAME after a dropped connection harmless.
    func rename(_ old: MailboxName, to new: MailboxName, uidValidity: UInt32?) async throws(MailStoreError) {
        guard old != new else { return }
        if try await store.mailbox(old) == nil, let target = try await store.mailbox(new),
            uidValidity.map({ $0 == target.uidValidity.rawValue }) ?? true
        {
            logger.debug("csync rename already applied", metadata: ["from": "\(old)", "to": "\(new)"])
            return
        }
        try await store.renameMailbox(old, to: new, movingSubscriptions: false)
        logger.info("csync renamed mailbox", metadata: ["from": "\(old)", "to": "\(new)"])
    }

    func mailboxName(_ text: String?) -> MailboxName? { text.flatMap { try? MailboxName(internal: $0) } }
    func userName(_ text: String?) -> UserName? { text.flatMap { try? UserName($0) } }

    func unknownPartition(_ partition: String) -> SyncStatus {
        SyncStatus(
            .no,
            code: SyncResponseCode(rawValue: "IMAP_PARTITION_UNKNOWN"),
            text: "Unknown partition \(partition)"
        )
    }

    /// APPLY RESERVE (§3.4.1): which of these messages the replica lacks. Corvid stores bytes by
    /// GUID once for all mailboxes, so the mailbox list does not narrow the search.
    func reserve(_ payload: DList) async throws(MailStoreError) {
        guard let partition = payload.text(for: "PARTITION"), payload.list(for: "MBOXNAME") != nil,
            let guidList = payload.list(for: "GUID")
        else { throw MailStoreError(.invalidArgument, "RESERVE needs PARTITION, MBOXNAME and GUID") }
        guard configuration.partitions.contains(partition) else {
            throw MailStoreError(.invalidArgument, "unknown partition \(partition)")
        }
        let guids = guidList.compactMap(\.guidValue)
        let held = try await store.storedMessages(guids.filter { uploads[$0] == nil })
        let missing = guids.filter { uploads[$0] == nil && !held.contains($0) }
        if !missing.isEmpty { sendData("MISSING", .list(missing.map { .string($0.hex) })) }
    }

    /// APPLY MAILBOX (§3.4.3): SINCE_* checked against the replica's state, the update applied
    /// in one transaction, then SYNC_CRC compared with the result.
    func applyMailbox(_ payload: DList) async {
        let apply: ReplicaWire.MailboxApply
        do {
            apply = try ReplicaWire.mailboxApply(payload.kvlistValue ?? [], force: session.force)
        } catch {
            logger.notice("csync: bad APPLY MAILBOX", metadata: ["problem": "\(error.detail)"])
            return send(SyncStatus(.no, code: .protocolBadParameters, text: ""))
        }
        let name = apply.update.mailbox.name
        if apply.type.contains("d") { return send(.success) }  // a deleted-entry placeholder
        let kind = apply.type.first ?? "e"
        guard kind == "e" || apply.type.hasPrefix("i") else {
            return send(
                SyncStatus(.no, code: .mailboxNotSupported, text: "Mailbox type \(apply.type) is not supported")
            )
        }
        guard configuration.partitions.contains(apply.update.mailbox.partition) else {
            return send(unknownPartition(apply.update.mailbox.partition))
        }
        do {
            let current = try await checksums.read(.name(name), needing: .none, from: store)
            var update = apply.update
            // The state the checks below ran against: this mailbox's, or none (absent, or a
            // same-named mailbox of another uniqueid that the store replaces only if empty).
            if let current, current.state.mailbox.uniqueID == update.mailbox.uniqueID {
                update.expectedHighestModSeq = current.state.mailbox.highestModSeq
            } else {
                update.expectedHighestModSeq = ModSeq(0)
            }
            if apply.sinceModSeq != 0 {
                guard let current, current.state.mailbox.uniqueID == update.mailbox.uniqueID,
                    current.state.mailbox.highestModSeq.rawValue == apply.sinceModSeq
                else { return send(.no(.syncChanged)) }
                let since = MailboxChecksums(basic: apply.sinceCRC, annotations: apply.sinceCRCAnnotations)
                // A cached value that disagrees is checked against every record before it counts.
                guard
                    try await matches(since, current.checksums, name: name, uniqueID: update.mailbox.uniqueID)
                else { return send(.no(.syncChanged)) }
            }
            let result = try await store.applyReplicaMailbox(update, messages: uploads)
            SyncMetrics.appliedMailboxes.increment()
            logger.debug(
                "csync applied mailbox",
                metadata: [
                    "mailbox": "\(name)", "records": "\(update.records.count)",
                    "modseq": "\(result.mailbox.highestModSeq)",
                ]
            )
            let master = MailboxChecksums(basic: apply.syncCRC, annotations: apply.syncCRCAnnotations)
            if master.basic != 0 || master.annotations != 0,
                let after = try await checksums.read(.uniqueID(update.mailbox.uniqueID), needing: .none, from: store),
                !(try await matches(master, after.checksums, name: name, uniqueID: update.mailbox.uniqueID))
            {
                // As Cyrus: the changes stay applied; the master escalates (§3.4.3 step 10).
                logger.notice(
                    "csync: checksum differs after APPLY MAILBOX",
                    metadata: ["mailbox": "\(name)", "ours": "\(after.checksums)", "master": "\(master)"]
                )
                SyncMetrics.failures("IMAP_SYNC_CHECKSUM").increment()
                return send(SyncStatus(.no, code: .syncChecksum, text: "Replication inconsistency detected"))
            }
            send(.success)
        } catch {
            send(status(for: error))
        }
    }

    /// Whether `expected` matches our checksums: the cached `ours`, or if that disagrees,
    /// the value recomputed from every record (which then replaces the cached one).
    func matches(
        _ expected: MailboxChecksums,
        _ ours: MailboxChecksums,
        name: MailboxName,
        uniqueID: String
    ) async throws(MailStoreError) -> Bool {
        if expected.matches(ours) { return true }
        guard let recomputed = try await checksums.read(.uniqueID(uniqueID), needing: .none, from: store, fresh: true)
        else { return false }
        if recomputed.checksums != ours {
            logger.info(
                "csync: cached checksums were stale; recomputed",
                metadata: ["mailbox": "\(name)", "cached": "\(ours)", "recomputed": "\(recomputed.checksums)"]
            )
        }
        return expected.matches(recomputed.checksums)
    }

    /// APPLY ANNOTATION / UNANNOTATION (§3.4.10): one mailbox-level entry, or with `MBOXNAME ""`
    /// a server-level one.
    func applyAnnotation(_ payload: DList, remove: Bool) async throws(MailStoreError) {
        guard let mailbox = payload.text(for: "MBOXNAME"), let entry = payload.text(for: "ENTRY"),
            let userID = payload.text(for: "USERID")
        else { throw MailStoreError(.invalidArgument, "ANNOTATION needs MBOXNAME, ENTRY and USERID") }
        let value: [UInt8]? = remove ? nil : payload["VALUE"]?.bytesValue
        guard remove || value != nil else { throw MailStoreError(.invalidArgument, "ANNOTATION needs VALUE") }
        guard !mailbox.isEmpty else {
            try await store.setServerAnnotation(Annotation(uid: nil, entry: entry, userID: userID, value: value))
            return
        }
        guard let name = try? MailboxName(internal: mailbox) else {
            throw MailStoreError(.invalidArgument, "bad mailbox name")
        }
        try await store.setAnnotation(Annotation(uid: nil, entry: entry, userID: userID, value: value), in: name)
    }
}
