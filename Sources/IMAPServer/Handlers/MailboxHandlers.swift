import IMAPCodec
import MailCore
import MailStore

/// NAMESPACE, SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, STATUS.
extension IMAPSessionRunner {
    /// NAMESPACE (RFC 2342): personal, other users', shared.
    func namespace() -> Completion {
        let map = namespaceMap
        let sep = String(map.separator)
        func entry(_ prefix: String) -> String { "((\"\(prefix)\" \"\(sep)\"))" }
        untagged("NAMESPACE \(entry(map.personalPrefix)) \(entry(map.otherUsersPrefix)) \(entry(map.sharedPrefix))")
        return .ok("NAMESPACE completed")
    }

    /// The special-use annotation entry, as Cyrus stores it (per owner).
    static var specialUseEntry: String { "/specialuse" }
    static var specialUseAttributes: Set<String> {
        ["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"]
    }

    // MARK: SELECT / EXAMINE

    func select(_ argument: MailboxArgument, _ parameters: SelectParameters, readOnly examine: Bool) async -> Completion
    {
        // RFC 9051 §6.3.2: a failed SELECT leaves no mailbox selected; the old one is closed
        // first (and announced with CLOSED when QRESYNC or CONDSTORE-aware clients use it).
        if session.selected != nil {
            session.deselect()
            stopWatching()
            untagged(status: .ok, code: .closed, text: "Previous mailbox closed")
        }
        if parameters.qresync != nil && !session.qresyncEnabled {
            return .bad("QRESYNC parameter needs ENABLE QRESYNC first")
        }
        let mailbox: Mailbox
        switch await visibleMailbox(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        if let refusal = require("r", on: mailbox) { return refusal }
        let rights = access.rights(on: mailbox)
        let readOnly = examine || !["s", "w", "t", "e", "i"].contains(where: rights.contains)
        let listed: (Mailbox, [SelectedMailbox.Entry])?
        do {
            listed = try await connection.selections.list(for: mailbox, from: store)
        } catch {
            return Completion(error)
        }
        guard let (current, entries) = listed else { return .no("Mailbox does not exist", .nonexistent) }
        var view = SelectedMailbox(mailbox: current, entries: entries, readOnly: readOnly)
        if seenIsPrivate(current) {
            // The cache holds the records' flags; this session's view shows its own \Seen.
            do {
                view.usePrivateSeen(try await privateSeenSet(current))
            } catch {
                return Completion(error)
            }
        }
        startWatching(current.name)
        session.select(view, condStore: parameters.condStore || parameters.qresync != nil)

        var keywords = Set<String>()
        var firstUnseen: Int?
        for (index, entry) in view.entries.enumerated() {
            for keyword in entry.flags.keywords { keywords.insert(keyword.name) }
            if firstUnseen == nil, !entry.flags.contains(.seen) { firstUnseen = index + 1 }
        }
        let flags = Flag.systemFlags.map(\.name) + keywords.sorted()
        untagged("FLAGS (\(flags.joined(separator: " ")))")
        untagged(
            status: .ok,
            code: .permanentFlags(readOnly ? [] : flags + ["\\*"]),
            text: readOnly ? "No permanent flags permitted" : "Limited"
        )
        untagged("\(view.count) EXISTS")
        if session.utf8Names {
            // RFC 9051 §6.3.2: the mailbox's name as the server knows it; no RECENT, no UNSEEN.
            untagged("LIST () \"\(namespaceMap.separator)\" \(quotedName(namespaceMap.clientName(for: current.name)))")
        } else {
            untagged("0 RECENT")
            if let firstUnseen { untagged(status: .ok, code: .other("UNSEEN \(firstUnseen)"), text: "First unseen") }
        }
        untagged(status: .ok, code: .uidValidity(current.uidValidity.rawValue), text: "UIDs valid")
        untagged(status: .ok, code: .uidNext(current.lastUID + 1), text: "Predicted next UID")
        untagged(status: .ok, code: .highestModSeq(current.highestModSeq.rawValue), text: "Highest")
        untagged(status: .ok, code: .other("MAILBOXID (\(current.uniqueID))"), text: "Ok")
        if let qresync = parameters.qresync, qresync.uidValidity == current.uidValidity.rawValue {
            await resynchronize(qresync, view)
        }
        return .ok(
            "\(examine ? "EXAMINE" : "SELECT") completed",
            readOnly ? .readOnly : .readWrite
        )
    }

    /// QRESYNC (RFC 7162 §3.2.5.1): VANISHED (EARLIER) for what the client knew and is gone,
    /// then FETCH for what changed since its modseq.
    func resynchronize(_ qresync: SelectParameters.QResync, _ view: SelectedMailbox) async {
        guard let changes = try? await store.mailboxChanges(view.name, since: ModSeq(qresync.modSeq))?.1 else { return }
        let known = qresync.knownUIDs?.resolved(largest: view.uidNext - 1)
        var vanished = UIDSet()
        for record in changes where record.isExpunged {
            if let known, !known.contains(record.uid) { continue }
            vanished.insert(record.uid)
        }
        if !vanished.isEmpty { untagged("VANISHED (EARLIER) \(vanished)") }
        for record in changes where !record.isExpunged {
            guard let seq = view.sequence(of: record.uid) else { continue }
            untagged(
                "\(seq) FETCH (UID \(record.uid.rawValue) FLAGS (\(flagList(record.flags))) MODSEQ (\(record.modSeq.rawValue)))"
            )
        }
    }

    /// CLOSE (expunging \Deleted when read-write) and UNSELECT.
    func close(expunge: Bool) async -> Completion {
        guard let selected = session.selected else { return .bad("No mailbox selected") }
        // On a fenced replica CLOSE expunges nothing, as on a read-only mailbox.
        let gate = configuration.writeGate
        let admitted = expunge && !selected.readOnly && (gate?.enter() ?? true)
        defer { if admitted { gate?.leave() } }
        if admitted {
            let deleted = selected.entries.filter { $0.flags.contains(.deleted) }.map(\.uid)
            if !deleted.isEmpty {
                do {
                    _ = try await store.expunge(uids: deleted, in: selected.name)
                } catch {
                    return Completion(error)
                }
            }
        }
        session.deselect()
        stopWatching()
        return .ok("\(expunge ? "CLOSE" : "UNSELECT") completed")
    }

    // MARK: CREATE / DELETE / RENAME

    func create(_ argument: MailboxArgument, specialUse: [String]) async -> Completion {
        var bytes = argument.bytes
        let separator = UInt8(ascii: configuration.unixHierarchySep ? "/" : ".")
        // A trailing separator only says the name will have children (RFC 9051 §6.3.4).
        while bytes.count > 1, bytes.last == separator { bytes.removeLast() }
        let argument = MailboxArgument(bytes)
        if argument.isInbox { return .no("INBOX always exists", .alreadyExists) }
        guard let name = internalName(argument) else { return .no("Invalid mailbox name", .cannot) }
        for use in specialUse where !Self.specialUseAttributes.contains(where: { $0.lowercased() == use.lowercased() })
        {
            return .no("Unknown special-use attribute \(use)", .other("USEATTR"))
        }
        do {
            if try await store.mailbox(name) != nil { return .no("Mailbox already exists", .alreadyExists) }
            // The nearest existing ancestor decides (Cyrus: the `k` right there); a shared
            // top-level mailbox needs an admin.
            var missing: [MailboxName] = [name]
            var ancestor = name.parent
            var parentMailbox: Mailbox?
            while let candidate = ancestor {
                if let found = try await store.mailbox(candidate) {
                    parentMailbox = found
                    break
                }
                missing.append(candidate)
                ancestor = candidate.parent
            }
            if let parentMailbox {
                guard access.has("k", on: parentMailbox) else { return .no("Permission denied", .noPerm) }
            } else if !session.isAdmin {
                return .no("Permission denied", .noPerm)
            }
            // Intermediate levels are created too, as RFC 9051 §6.3.4 suggests.
            for level in missing.reversed() {
                let acl: ACL? = level.owner == nil ? parentMailbox?.acl : nil
                _ = try await store.createMailbox(level, acl: acl)
            }
            if !specialUse.isEmpty {
                let value = specialUse.map { use in
                    Self.specialUseAttributes.first { $0.lowercased() == use.lowercased() }!
                }
                try await store.setAnnotation(
                    Annotation(
                        uid: nil,
                        entry: Self.specialUseEntry,
                        userID: name.owner?.name ?? "",
                        value: Array(value.joined(separator: " ").utf8)
                    ),
                    in: name
                )
            }
            return .ok("CREATE completed")
        } catch {
            return Completion(error)
        }
    }

    func delete(_ argument: MailboxArgument) async -> Completion {
        if argument.isInbox && !session.isAdmin { return .no("Cannot delete INBOX", .cannot) }
        let mailbox: Mailbox
        switch await visibleMailbox(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        if let refusal = require("x", on: mailbox) { return refusal }
        if mailbox.name.isInbox, session.isAdmin, let owner = mailbox.name.owner {
            // An admin deleting user/NAME deletes the user, as cyradm's `dm user/NAME` does.
            do {
                if try await store.user(owner) != nil {
                    try await store.deleteUser(owner)
                } else {
                    // No account (an admin's `cm user/NAME`): delete the mailboxes, deepest first.
                    for below in try await store.mailboxes(under: mailbox.name).reversed() {
                        try await store.deleteMailbox(below.name)
                    }
                }
                return .ok("DELETE completed")
            } catch {
                return Completion(error)
            }
        }
        do {
            try await store.deleteMailbox(mailbox.name)
            if session.selected?.name == mailbox.name {
                session.deselect()
                stopWatching()
            }
            return .ok("DELETE completed")
        } catch {
            return Completion(error)
        }
    }

    func rename(_ from: MailboxArgument, _ to: MailboxArgument) async -> Completion {
        let source: Mailbox
        switch await visibleMailbox(from) {
        case .failure(let completion): return completion
        case .success(let found): source = found
        }
        guard let target = internalName(to), !to.isInbox else { return .no("Invalid target name", .cannot) }
        if let refusal = require("x", on: source), !source.name.isInbox { return refusal }
        do {
            if let parent = target.parent, let parentMailbox = try await store.mailbox(parent) {
                guard access.has("k", on: parentMailbox) else { return .no("Permission denied", .noPerm) }
            } else if target.parent == nil && !session.isAdmin {
                return .no("Permission denied", .noPerm)
            } else if let parent = target.parent, try await store.mailbox(parent) == nil, !session.isAdmin,
                parent.owner != session.user
            {
                return .no("Permission denied", .noPerm)
            }
            try await store.renameMailbox(source.name, to: target)
            return .ok("RENAME completed")
        } catch {
            return Completion(error)
        }
    }

    func subscribe(_ argument: MailboxArgument, _ on: Bool) async -> Completion {
        guard let name = internalName(argument) else { return .no("Invalid mailbox name", .cannot) }
        do {
            if on {
                // Subscribing needs the mailbox to exist and be visible (Cyrus checks the same).
                if case .failure(let completion) = await visibleMailbox(argument) { return completion }
                try await store.subscribe(session.user!, to: name)
            } else {
                try await store.unsubscribe(session.user!, from: name)
            }
            return .ok("\(on ? "SUBSCRIBE" : "UNSUBSCRIBE") completed")
        } catch {
            return Completion(error)
        }
    }

    // MARK: STATUS

    func status(_ argument: MailboxArgument, items: [String]) async -> Completion {
        let mailbox: Mailbox
        switch await visibleMailbox(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        if let refusal = require("r", on: mailbox) { return refusal }
        do {
            untagged(
                "STATUS " + quotedName(namespaceMap.clientName(for: mailbox.name)) + " ("
                    + (try await statusItems(mailbox, items)) + ")"
            )
            return .ok("STATUS completed")
        } catch {
            return Completion(error)
        }
    }

    /// The `status-att-list` for a mailbox.
    func statusItems(_ mailbox: Mailbox, _ items: [String]) async throws(MailStoreError) -> String {
        var counts: FlagCounts?
        if items.contains("UNSEEN") || items.contains("DELETED") {
            counts = try await store.flagCounts(in: mailbox.name)
        }
        var parts: [String] = []
        for item in items {
            switch item {
            case "MESSAGES": parts.append("MESSAGES \(mailbox.messageCount)")
            case "UIDNEXT": parts.append("UIDNEXT \(mailbox.lastUID + 1)")
            case "UIDVALIDITY": parts.append("UIDVALIDITY \(mailbox.uidValidity.rawValue)")
            case "RECENT": parts.append("RECENT 0")
            case "SIZE": parts.append("SIZE \(mailbox.totalSize)")
            case "HIGHESTMODSEQ": parts.append("HIGHESTMODSEQ \(mailbox.highestModSeq.rawValue)")
            case "APPENDLIMIT": parts.append("APPENDLIMIT \(configuration.maxMessageSize)")
            case "MAILBOXID": parts.append("MAILBOXID (\(mailbox.uniqueID))")
            case "UNSEEN":
                let unseen = seenIsPrivate(mailbox) ? try await privateUnseenCount(mailbox) : counts?.unseen ?? 0
                parts.append("UNSEEN \(unseen)")
            case "DELETED": parts.append("DELETED \(counts?.deleted ?? 0)")
            default: break
            }
        }
        return parts.joined(separator: " ")
    }

    /// A mailbox name (modified UTF-7, as kept) as a quoted string: in UTF-8 for IMAP4rev2
    /// clients, whose quoted strings may carry it (RFC 9051 `QUOTED-CHAR`).
    func quotedName(_ stored: String) -> String {
        let name = session.utf8Names ? (ModifiedUTF7.decode(stored) ?? stored) : stored
        var escaped = "\""
        for character in name {
            if character == "\"" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped + "\""
    }
}
