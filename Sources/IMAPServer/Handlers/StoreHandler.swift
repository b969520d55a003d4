import IMAPCodec
import MailCore
import MailStore

/// STORE and UID STORE (RFC 9051 §6.4.6, UNCHANGEDSINCE RFC 7162 §3.1.3).
extension IMAPSessionRunner {
    func storeFlags(_ set: SequenceSet, unchangedSince: UInt64?, _ action: StoreAction, uid: Bool) async -> Completion {
        guard var selected = session.selected else { return .bad("No mailbox selected") }
        guard let sequences = resolve(set, uid: uid) else { return .bad("Invalid message sequence number") }
        if selected.readOnly { return .no("Mailbox is read-only", .readOnly) }
        guard let mailbox = try? await store.mailbox(selected.name) else {
            return .no("Mailbox does not exist", .nonexistent)
        }
        // Rights per flag (RFC 4314 §4): \Seen needs s, \Deleted t, others w.
        let rights = access.rights(on: mailbox)
        for flag in action.flags {
            let needed: Character = flag == .seen ? "s" : flag == .deleted ? "t" : "w"
            if !rights.contains(needed) { return .no("Permission denied to change \(flag)", .noPerm) }
        }
        let flags = FlagSet(action.flags)
        if selected.privateSeen != nil {
            return await storePrivately(&selected, sequences, flags, action, unchangedSince: unchangedSince, uid: uid)
        }
        let change: FlagChange
        switch action.mode {
        case .add: change = .add(flags)
        case .remove: change = .remove(flags)
        case .replace: change = .replace(flags)
        }
        let uids = sequences.map { selected.entry(at: $0).uid }
        let result: FlagStoreResult
        do {
            result = try await store.storeFlags(
                change,
                uids: uids,
                in: selected.name,
                unchangedSince: unchangedSince.map { ModSeq($0) }
            )
        } catch {
            return Completion(error)
        }
        for record in result.changed { selected.noteStored(record) }
        session.selected = selected
        let condStore = session.condStoreActive
        // RFC 9051: untagged FETCH FLAGS for each message unless .SILENT; with UNCHANGEDSINCE
        // the FETCH includes MODSEQ, and is sent even with .SILENT (RFC 7162 §3.1.3).
        var reported: [MessageRecord] = result.changed
        if !action.silent { reported += result.unchanged }
        for record in reported.sorted(by: { $0.uid < $1.uid }) {
            guard let seq = selected.sequence(of: record.uid) else { continue }
            let isChanged = result.changed.contains { $0.uid == record.uid }
            if action.silent && !(isChanged && unchangedSince != nil) { continue }
            var items: [String] = []
            if uid || session.qresyncEnabled { items.append("UID \(record.uid.rawValue)") }
            if !action.silent { items.append("FLAGS (\(flagList(record.flags)))") }
            if condStore { items.append("MODSEQ (\(record.modSeq.rawValue))") }
            untagged("\(seq) FETCH (\(items.joined(separator: " ")))")
        }
        if !result.modified.isEmpty {
            let set: String
            if uid {
                set = UIDSet(result.modified).description
            } else {
                set =
                    UIDSet(
                        ranges: result.modified.compactMap { selected.sequence(of: $0) }.map { UInt32($0)...UInt32($0) }
                    )
                    .description
            }
            return .ok("Conditional STORE failed for some messages", .other("MODIFIED \(set)"))
        }
        return .ok("\(uid ? "UID STORE" : "STORE") completed")
    }

    /// STORE by a reader with a private seen set (see PrivateSeen.swift): FETCH responses show
    /// the flags as this session sees them.
    private func storePrivately(
        _ selected: inout SelectedMailbox,
        _ sequences: [Int],
        _ flags: FlagSet,
        _ action: StoreAction,
        unchangedSince: UInt64?,
        uid: Bool
    ) async -> Completion {
        let mode: FlagChangeMode
        switch action.mode {
        case .add: mode = .add
        case .remove: mode = .remove
        case .replace: mode = .replace
        }
        let outcome: (changed: [Int], result: FlagStoreResult)
        do {
            outcome = try await storeWithPrivateSeen(
                &selected,
                sequences: sequences,
                flags: flags,
                mode: mode,
                unchangedSince: unchangedSince.map { ModSeq($0) }
            )
        } catch {
            return Completion(error)
        }
        session.selected = selected
        let report = action.silent ? (unchangedSince == nil ? [] : outcome.changed) : sequences
        for seq in Set(report).sorted() {
            let entry = selected.entry(at: seq)
            var items: [String] = []
            if uid || session.qresyncEnabled { items.append("UID \(entry.uid.rawValue)") }
            if !action.silent { items.append("FLAGS (\(flagList(entry.flags)))") }
            if session.condStoreActive { items.append("MODSEQ (\(entry.modSeq.rawValue))") }
            untagged("\(seq) FETCH (\(items.joined(separator: " ")))")
        }
        if !outcome.result.modified.isEmpty {
            return .ok(
                "Conditional STORE failed for some messages",
                .other("MODIFIED \(UIDSet(outcome.result.modified))")
            )
        }
        return .ok("\(uid ? "UID STORE" : "STORE") completed")
    }
}
