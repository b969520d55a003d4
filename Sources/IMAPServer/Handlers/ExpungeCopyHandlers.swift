import IMAPCodec
import MailCore
import MailStore

/// EXPUNGE, UID EXPUNGE (UIDPLUS), COPY and MOVE (RFC 6851) with COPYUID.
extension IMAPSessionRunner {
    func expunge(uids set: SequenceSet?) async -> Completion {
        guard var selected = session.selected else { return .bad("No mailbox selected") }
        if selected.readOnly { return .no("Mailbox is read-only", .readOnly) }
        guard let mailbox = try? await store.mailbox(selected.name) else {
            return .no("Mailbox does not exist", .nonexistent)
        }
        if let refusal = require("e", on: mailbox) { return refusal }
        var candidates = selected.entries.filter { $0.flags.contains(.deleted) }.map(\.uid)
        if let set {
            guard let limit = resolve(set, uid: true) else { return .bad("Invalid UID set") }
            let allowed = Set(limit.map { selected.entry(at: $0).uid })
            candidates = candidates.filter(allowed.contains)
        }
        let expunged: [UID]
        do {
            expunged = try await store.expunge(uids: candidates, in: selected.name)
        } catch {
            return Completion(error)
        }
        announceExpunged(Set(expunged), &selected)
        session.selected = selected
        return .ok("\(set == nil ? "EXPUNGE" : "UID EXPUNGE") completed")
    }

    /// Announces this session's own expunges at once (they are always announceable here).
    func announceExpunged(_ uids: Set<UID>, _ selected: inout SelectedMailbox) {
        guard !uids.isEmpty else { return }
        let sequences = selected.removeExpunged(uids)
        if session.qresyncEnabled {
            untagged("VANISHED \(UIDSet(uids))")
        } else {
            for seq in sequences { untagged("\(seq) EXPUNGE") }
        }
    }

    func copy(_ set: SequenceSet, to argument: MailboxArgument, uid: Bool, move: Bool) async -> Completion {
        guard var selected = session.selected else { return .bad("No mailbox selected") }
        guard let sequences = resolve(set, uid: uid) else { return .bad("Invalid message sequence number") }
        let verb = (uid ? "UID " : "") + (move ? "MOVE" : "COPY")
        guard let targetName = internalName(argument) else { return .no("Invalid mailbox name", .cannot) }
        let target: Mailbox
        do {
            guard let found = try await store.mailbox(targetName),
                access.has("l", on: found) || access.has("i", on: found)
            else {
                return .no("Mailbox does not exist", .tryCreate)
            }
            target = found
        } catch {
            return Completion(error)
        }
        if let refusal = require("i", on: target) { return refusal }
        if move {
            if selected.readOnly { return .no("Mailbox is read-only", .readOnly) }
            guard let source = try? await store.mailbox(selected.name) else {
                return .no("Mailbox does not exist", .nonexistent)
            }
            if let refusal = require("t", on: source) ?? require("e", on: source) { return refusal }
        }
        guard !sequences.isEmpty else { return .ok("\(verb) completed (no messages)") }
        let uids = sequences.map { selected.entry(at: $0).uid }
        let result: CopyResult
        do {
            result = try await store.copyMessages(
                uids: uids,
                from: selected.name,
                to: target.name,
                move: move && target.name != selected.name
            )
        } catch {
            return Completion(error)
        }
        let code = IMAPResponseCode.copyUID(
            uidValidity: result.uidValidity.rawValue,
            from: UIDSet(result.pairs.map(\.source)).description,
            to: UIDSet(result.pairs.map(\.destination)).description
        )
        if move {
            // RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
            untagged(status: .ok, code: code, text: "Moved")
            announceExpunged(Set(result.pairs.map(\.source)), &selected)
            session.selected = selected
            return .ok("\(verb) completed")
        }
        return .ok("\(verb) completed", code)
    }
}
