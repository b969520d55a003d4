import MailCore
import MailStore
import NIOCore
import SyncCodec

extension SyncServerRunner {
    /// GET commands (sync-protocol §3.3): data lines, then one status line.
    func get(_ item: DList.Item) async {
        do {
            switch item.key {
            case "USER":
                try await getUser(item.value, metaOnly: false)
            case "META":
                try await getUser(item.value, metaOnly: true)
            case "MAILBOXES":
                // The argument must be a list; an atom returns nothing (as Cyrus).
                for value in item.value.listValue ?? [] {
                    guard let text = value.textValue, let name = try? MailboxName(internal: text) else { continue }
                    if let (state, sums) = try await checksums.read(.name(name), needing: .none, from: store) {
                        sendData("MAILBOX", ReplicaWire.mailboxItem(state, includeRecords: false, checksums: sums))
                    }
                }
            case "UNIQUEIDS":
                for value in item.value.listValue ?? [] {
                    guard let uniqueID = value.textValue else { continue }
                    if let (state, sums) = try await checksums.read(.uniqueID(uniqueID), needing: .none, from: store) {
                        sendData("MAILBOX", ReplicaWire.mailboxItem(state, includeRecords: false, checksums: sums))
                    }
                }
            case "FULLMAILBOX":
                guard let text = item.value.textValue, let name = try? MailboxName(internal: text),
                    let (state, sums) = try await checksums.read(.name(name), needing: .all, from: store, fresh: true)
                else { return send(.no(.mailboxNonexistent)) }
                sendData("MAILBOX", ReplicaWire.mailboxItem(state, includeRecords: true, checksums: sums))
            case "QUOTA":
                if let root = item.value.textValue, let quota = try await store.quotaRoot(root) {
                    sendData("QUOTA", ReplicaWire.quotaItem(quota))
                }
            case "ANNOTATION":
                try await getAnnotations(item.value)
            case "FETCH":
                return try await getFetch(item.value)
            case "FETCH_SIEVE":
                // Sieve scripts are not stored by Corvid yet.
                return send(.no(.mailboxNonexistent))
            default:
                return send(.no(.protocolError))
            }
            send(.success)
        } catch {
            send(status(for: error))
        }
    }

    /// GET USER / GET META (§3.3.1-2): the user's mailboxes (INBOX first), their quota roots,
    /// then seen records and subscriptions if the user has any mailbox.
    func getUser(_ value: DList, metaOnly: Bool) async throws(MailStoreError) {
        guard let text = value.textValue, let user = try? UserName(text) else { return }
        let mailboxes = try await store.mailboxes(under: .inbox(of: user))
        if !metaOnly {
            var roots: [String] = []
            for mailbox in mailboxes {
                if let (state, sums) = try await checksums.read(.name(mailbox.name), needing: .none, from: store) {
                    sendData("MAILBOX", ReplicaWire.mailboxItem(state, includeRecords: false, checksums: sums))
                    if out.readableBytes >= Self.flushThreshold { try? await flush() }
                }
                if let root = mailbox.quotaRoot, !roots.contains(root) { roots.append(root) }
            }
            for root in roots {
                if let quota = try await store.quotaRoot(root) { sendData("QUOTA", ReplicaWire.quotaItem(quota)) }
            }
            guard !mailboxes.isEmpty else { return }
        }
        for (uniqueID, state) in try await store.seenStates(of: user).sorted(by: { $0.key < $1.key }) {
            sendData("SEEN", ReplicaWire.seenItem(uniqueID: uniqueID, state))
        }
        let subscriptions = try await store.subscriptions(of: user)
        if !subscriptions.isEmpty {
            sendData("LSUB", .list(subscriptions.map { .string($0.internalName) }))
        }
    }

    /// GET ANNOTATION name (§3.3.5): one line per mailbox-level annotation, every user's; with
    /// `""`, the server-level ones.
    func getAnnotations(_ value: DList) async throws(MailStoreError) {
        guard let text = value.textValue else { return }
        let annotations: [Annotation]
        if text.isEmpty {
            annotations = try await store.serverAnnotations()
        } else {
            guard let name = try? MailboxName(internal: text) else { return }
            annotations = try await store.annotations(in: name)
        }
        for annotation in annotations where annotation.uid == nil {
            guard let bytes = annotation.value else { continue }
            sendData(
                "ANNOTATION",
                .kvlist([
                    .init("MBOXNAME", .string(text)), .init("ENTRY", .string(annotation.entry)),
                    .init("USERID", .string(annotation.userID)), .init("VALUE", .string(bytes)),
                ])
            )
        }
    }

    /// GET FETCH (§3.3.6): one message file, for copy-back.
    func getFetch(_ value: DList) async throws {
        guard let text = value.text(for: "MBOXNAME"), let name = try? MailboxName(internal: text),
            let partition = value.text(for: "PARTITION"), let uniqueID = value.text(for: "UNIQUEID"),
            let guid = value.guid(for: "GUID"), let uid = value.number32(for: "UID")
        else { return send(.no(.protocolBadParameters)) }
        guard let state = try await store.replicaState(of: name, records: true), state.mailbox.uniqueID == uniqueID,
            let record = state.records.first(where: { $0.uid.rawValue == uid }), record.guid == guid, !record.isExpunged
        else { return send(.no(.mailboxNonexistent)) }
        let bytes = try await store.messageBytes(guid)
        let file = FileLiteral(partition: partition, guid: guid, size: UInt32(clamping: bytes.readableBytes))
        sendData("MESSAGE", .file(file)) { _ in Array(bytes.readableBytesView) }
        send(.success)
    }

    /// The one mapping from store errors to csync replies.
    func status(for error: any Error) -> SyncStatus {
        guard let error = error as? MailStoreError else {
            SyncMetrics.failures("IMAP_IOERROR").increment()
            return SyncStatus(.no, code: SyncResponseCode(rawValue: "IMAP_IOERROR"), text: "System I/O error")
        }
        let status: SyncStatus
        switch error.code {
        case .nonexistent: status = .no(.mailboxNonexistent)
        case .syncChanged: status = .no(.syncChanged)
        case .syncChecksum: status = SyncStatus(.no, code: .syncChecksum, text: "Replication inconsistency detected")
        case .mailboxMoved: status = .no(.mailboxMoved)
        case .alreadyExists:
            status = SyncStatus(
                .no,
                code: SyncResponseCode(rawValue: "IMAP_MAILBOX_EXISTS"),
                text: "Mailbox already exists"
            )
        case .permissionDenied: status = .no(.permissionDenied)
        case .invalidArgument: status = SyncStatus(.no, code: .protocolBadParameters, text: "")
        case .overQuota:
            status = SyncStatus(.no, code: SyncResponseCode(rawValue: "IMAP_QUOTA_EXCEEDED"), text: "Over quota")
        case .messageTooLarge, .corrupted, .ioFailure:
            status = SyncStatus(.no, code: SyncResponseCode(rawValue: "IMAP_IOERROR"), text: "System I/O error")
        }
        SyncMetrics.failures(status.code?.rawValue ?? "NO").increment()
        logger.notice("csync command failed", metadata: ["error": "\(error)"])
        return status
    }
}
