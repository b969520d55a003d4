import IMAPCodec
import MailCore
import MailStore

/// LIST (RFC 9051 §6.3.9, LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154, LIST-STATUS RFC 5819)
/// and LSUB (RFC 3501).
extension IMAPSessionRunner {
    /// A name in the client's view of the hierarchy.
    struct ListedName {
        var name: String
        var mailbox: Mailbox?
        var hasChildren = false
        var subscribed = false
        /// A subscribed descendant exists (RECURSIVEMATCH's CHILDINFO).
        var childSubscribed = false
    }

    func list(_ command: ListCommand) async -> Completion {
        let map = namespaceMap
        let sep = String(map.separator)
        let returnOptions = command.returnOptions ?? []
        if command.patterns.count == 1, command.patterns[0].isEmpty {
            // RFC 9051 §6.3.9: the hierarchy delimiter and root of the reference.
            untagged("LIST (\\Noselect) \"\(sep)\" \"\"")
            return .ok("LIST completed")
        }
        let names: [String: ListedName]
        do {
            names = try await visibleNames()
        } catch {
            return Completion(error)
        }
        let selectSubscribed = command.selectOptions.contains(.subscribed)
        let recursive = command.selectOptions.contains(.recursiveMatch)
        let selectSpecialUse = command.selectOptions.contains(.specialUse)
        let reference = inputName(command.reference)
        let patterns = command.patterns.map { reference + inputName($0) }
        let specialUse = await specialUseAttributes(for: names.values.compactMap(\.mailbox))
        let wantStatus: [String]? = returnOptions.lazy.compactMap {
            if case .status(let items) = $0 { return items } else { return nil }
        }.first
        let wantMyRights = returnOptions.contains(.myRights)
        for name in names.keys.sorted(by: Self.listOrder) {
            guard let listed = names[name] else { continue }
            guard patterns.contains(where: { Self.matches(pattern: $0, name: name, separator: map.separator) }) else {
                continue
            }
            if selectSubscribed && !listed.subscribed && !(recursive && listed.childSubscribed) { continue }
            if selectSpecialUse && (listed.mailbox.flatMap { specialUse[$0.uniqueID] } == nil) { continue }
            var attributes: [String] = []
            if listed.mailbox == nil {
                let extended = command.returnOptions != nil || selectSubscribed || session.utf8Names
                attributes.append(extended ? "\\NonExistent" : "\\Noselect")
            }
            attributes.append(listed.hasChildren ? "\\HasChildren" : "\\HasNoChildren")
            if listed.subscribed && (selectSubscribed || returnOptions.contains(.subscribed)) {
                attributes.append("\\Subscribed")
            }
            if let mailbox = listed.mailbox, let uses = specialUse[mailbox.uniqueID] { attributes.append(uses) }
            var line = "LIST (\(attributes.joined(separator: " "))) \"\(sep)\" \(quotedName(name))"
            if recursive && listed.childSubscribed && !listed.subscribed {
                line += " (\"CHILDINFO\" (\"SUBSCRIBED\"))"
            }
            untagged(line)
            if let mailbox = listed.mailbox {
                if let items = wantStatus, access.has("r", on: mailbox),
                    let text = try? await statusItems(mailbox, items)
                {
                    untagged("STATUS \(quotedName(name)) (\(text))")
                }
                if wantMyRights { untagged("MYRIGHTS \(quotedName(name)) \(access.rights(on: mailbox))") }
            }
        }
        return .ok("LIST completed")
    }

    func lsub(reference: [UInt8], pattern: [UInt8]) async -> Completion {
        let map = namespaceMap
        let sep = String(map.separator)
        let names: [String: ListedName]
        do {
            names = try await visibleNames()
        } catch {
            return Completion(error)
        }
        let full = inputName(reference) + inputName(pattern)
        for name in names.keys.sorted(by: Self.listOrder) {
            guard let listed = names[name], Self.matches(pattern: full, name: name, separator: map.separator) else {
                continue
            }
            if listed.subscribed {
                let attributes = listed.mailbox == nil ? "\\Noselect" : ""
                untagged("LSUB (\(attributes)) \"\(sep)\" \(quotedName(name))")
            } else if listed.childSubscribed, full.last == "%" {
                // RFC 3501 §6.3.9: a `%` hiding subscribed children lists the parent \Noselect.
                untagged("LSUB (\\Noselect) \"\(sep)\" \(quotedName(name))")
            }
        }
        return .ok("LSUB completed")
    }

    /// INBOX first, then by name.
    static func listOrder(_ a: String, _ b: String) -> Bool {
        if a == "INBOX" { return b != "INBOX" }
        if b == "INBOX" { return false }
        return a < b
    }

    /// Every name the user may see, with the implied levels between them, subscriptions included.
    func visibleNames() async throws(MailStoreError) -> [String: ListedName] {
        let map = namespaceMap
        let rights = access
        var names: [String: ListedName] = [:]
        let candidates =
            session.isAdmin
            ? try await store.mailboxes(under: nil)
            : try await store.mailboxes(visibleTo: [session.user!.name, "anyone"], owner: session.user!)
        for mailbox in candidates {
            let visible = rights.rights(on: mailbox)
            guard visible.contains("l") else { continue }
            names[map.clientName(for: mailbox.name)] = ListedName(
                name: map.clientName(for: mailbox.name),
                mailbox: mailbox
            )
        }
        for subscription in try await store.subscriptions(of: session.user!) {
            let name = map.clientName(for: subscription)
            names[name, default: ListedName(name: name)].subscribed = true
        }
        // Levels implied by deeper names (e.g. `Other Users`, or a parent that was deleted).
        for name in Array(names.keys) {
            guard name != "INBOX" || !map.alternate else { continue }
            var parts = name.split(separator: map.separator, omittingEmptySubsequences: false)
            let subscribed = names[name]?.subscribed == true
            while parts.count > 1 {
                parts.removeLast()
                let parent = parts.joined(separator: String(map.separator))
                names[parent, default: ListedName(name: parent)].hasChildren = true
                if subscribed { names[parent]?.childSubscribed = true }
            }
        }
        // A subscription to a mailbox that no longer exists and has no children is still listed
        // (as \NonExistent) only for SUBSCRIBED selections; the entry stays with mailbox nil.
        return names
    }

    /// Special-use attributes by mailbox uniqueid.
    func specialUseAttributes(for mailboxes: [Mailbox]) async -> [String: String] {
        var result: [String: String] = [:]
        for mailbox in mailboxes where mailbox.name.owner != nil {
            guard let annotations = try? await store.annotations(in: mailbox.name) else { continue }
            if let entry = annotations.first(where: { $0.uid == nil && $0.entry == Self.specialUseEntry }),
                let value = entry.value, !value.isEmpty
            {
                result[mailbox.uniqueID] = String(decoding: value, as: UTF8.self)
            }
        }
        return result
    }

    /// IMAP wildcard matching: `*` matches anything, `%` anything but the separator. INBOX
    /// matches case-insensitively.
    static func matches(pattern: String, name: String, separator: Character) -> Bool {
        let p = Array(pattern.uppercased().hasPrefix("INBOX") ? "INBOX" + pattern.dropFirst(5) : pattern)
        let n = Array(name)
        var memo: [Int: Bool] = [:]
        func match(_ i: Int, _ j: Int) -> Bool {
            let key = i * (n.count + 1) + j
            if let known = memo[key] { return known }
            let result: Bool
            if i == p.count {
                result = j == n.count
            } else if p[i] == "*" {
                result = match(i + 1, j) || (j < n.count && match(i, j + 1))
            } else if p[i] == "%" {
                result = match(i + 1, j) || (j < n.count && n[j] != separator && match(i, j + 1))
            } else {
                result = j < n.count && p[i] == n[j] && match(i + 1, j + 1)
            }
            memo[key] = result
            return result
        }
        return match(0, 0)
    }
}
