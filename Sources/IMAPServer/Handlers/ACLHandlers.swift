import IMAPCodec
import MailCore
import MailStore

/// GETACL, SETACL, DELETEACL, LISTRIGHTS, MYRIGHTS (RFC 4314, Cyrus's rights letters).
extension IMAPSessionRunner {
    func getACL(_ argument: MailboxArgument) async -> Completion {
        let mailbox: Mailbox
        switch await visibleMailbox(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        if let refusal = require("a", on: mailbox) { return refusal }
        let entries = mailbox.acl.entries.map { " \(aclIdentifier($0.identifier)) \($0.rights)" }.joined()
        untagged("ACL \(quotedName(namespaceMap.clientName(for: mailbox.name)))\(entries)")
        return .ok("GETACL completed")
    }

    /// SETACL with `+`/`-` modifiers, or with nil rights DELETEACL.
    func setACL(
        _ argument: MailboxArgument,
        identifier rawIdentifier: [UInt8],
        rights rawRights: [UInt8]?
    ) async -> Completion {
        let mailbox: Mailbox
        switch await visibleMailbox(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        if let refusal = require("a", on: mailbox) { return refusal }
        let identifier = String(decoding: rawIdentifier, as: UTF8.self)
        let bare = identifier.hasPrefix("-") ? String(identifier.dropFirst()) : identifier
        guard bare == "anyone" || bare == "anonymous" || (try? UserName(bare)) != nil else {
            return .no("Invalid identifier \(identifier)", .cannot)
        }
        var acl = mailbox.acl
        if let rawRights {
            var text = String(decoding: rawRights, as: UTF8.self)
            var mode: Character = "="
            if let first = text.first, first == "+" || first == "-" {
                mode = first
                text.removeFirst()
            }
            // RFC 4314 §2.1.1: the obsolete c and d stand for k and x/t/e.
            let expanded = String(
                text.flatMap { letter -> [Character] in
                    switch letter {
                    case "c": ["c", "k"]
                    case "d": ["d", "x", "t", "e"]
                    default: [letter]
                    }
                }
            )
            guard let requested = ACLRights(expanded) else { return .bad("Invalid rights \(text)") }
            let current = Set(String(describing: acl.rights(for: identifier) ?? .none))
            var letters: Set<Character>
            switch mode {
            case "+": letters = current.union(String(describing: requested))
            case "-": letters = current.subtracting(String(describing: requested))
            default: letters = Set(String(describing: requested))
            }
            acl.set(identifier, letters.isEmpty ? nil : ACLRights(String(letters)))
        } else {
            acl.set(identifier, nil)
        }
        do {
            try await store.setACL(acl, on: mailbox.name)
            return .ok("\(rawRights == nil ? "DELETEACL" : "SETACL") completed")
        } catch {
            return Completion(error)
        }
    }

    func listRights(_ argument: MailboxArgument, identifier rawIdentifier: [UInt8]) async -> Completion {
        let mailbox: Mailbox
        switch await visibleMailbox(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        if let refusal = require("a", on: mailbox) { return refusal }
        let identifier = String(decoding: rawIdentifier, as: UTF8.self)
        // The owner always holds l, k, x, a and c on their own mailboxes (as Cyrus says).
        let required = mailbox.name.owner?.name == identifier ? "lkxca" : ""
        let optional = ACLRights.canonicalOrder.filter { !required.contains($0) }.map(String.init).joined(
            separator: " "
        )
        untagged(
            "LISTRIGHTS \(quotedName(namespaceMap.clientName(for: mailbox.name))) \(aclIdentifier(identifier)) \"\(required)\" \(optional)"
        )
        return .ok("LISTRIGHTS completed")
    }

    func myRights(_ argument: MailboxArgument) async -> Completion {
        let mailbox: Mailbox
        switch await visibleMailbox(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        untagged("MYRIGHTS \(quotedName(namespaceMap.clientName(for: mailbox.name))) \(access.rights(on: mailbox))")
        return .ok("MYRIGHTS completed")
    }

    /// An identifier as an astring: an atom when it can be one (not NIL), as Cyrus writes it.
    /// Clients such as imapclient hand GETACL's tokens back verbatim, quotes included.
    private func aclIdentifier(_ identifier: String) -> String {
        let bytes = Array(identifier.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy(IMAPGrammar.isAstringChar), identifier.uppercased() != "NIL" else {
            return quotedName(identifier)
        }
        return identifier
    }
}
