import IMAPCodec
import MailCore
import MailMessage
import MailStore
import NIOCore

/// SEARCH and UID SEARCH (RFC 9051 §6.4.4), ESEARCH (RFC 4731), SEARCHRES (RFC 5182),
/// MODSEQ (RFC 7162 §3.1.5).
extension IMAPSessionRunner {
    /// Named limit: messages read from the store per batch while searching text (two batches
    /// are held at a time: one being matched, the next being read).
    static var searchBatch: Int { 128 }

    func search(_ command: SearchCommand, uid: Bool, tag: String) async -> Completion {
        guard let selected = session.selected else { return .bad("No mailbox selected") }
        let charset = (command.charset ?? "UTF-8").uppercased()
        guard SearchEvaluator.supportedCharsets.contains(charset) else {
            return .no(
                "Unsupported charset",
                .other("BADCHARSET (\(SearchEvaluator.supportedCharsets.sorted().joined(separator: " ")))")
            )
        }
        let evaluator = SearchEvaluator(
            charset: charset,
            savedSearch: session.savedSearch,
            now: connection.clock(),
            view: selected
        )
        let readsMessages = SearchEvaluator.needsMessage(command.key)
        var matched: [Int] = []
        if readsMessages {
            // Messages are read in batches, one store read each, not one read per message;
            // header-only criteria read the header cache instead of whole messages. The next
            // batch is read while this one is matched, so reading and matching share the cores.
            let headersOnly = !SearchEvaluator.needsBody(command.key)
            // Envelope-field searches are answered from the shared summaries where possible.
            let summarised = headersOnly && SearchEvaluator.answeredBySummary(command.key)
            let store = self.store
            let cache = connection.searchHeaders
            let batches = stride(from: 1, through: selected.count, by: Self.searchBatch).map { start in
                (start...min(start + Self.searchBatch - 1, selected.count)).map { selected.entry(at: $0).guid }
            }
            @Sendable func read(_ index: Int) async throws(MailStoreError) -> SearchBatch {
                guard index < batches.count else { return .bytes([:]) }
                let guids = batches[index]
                guard summarised else {
                    return .bytes(try await headersOnly ? store.messageHeaders(guids) : store.messageBytes(guids))
                }
                var known = cache.summaries(guids)
                let missing = guids.indices.filter { known[$0] == nil }
                if !missing.isEmpty {
                    var built: [MessageGUID: SearchHeaderSummary] = [:]
                    for (guid, header) in try await store.messageHeaders(missing.map { guids[$0] }) {
                        built[guid] = MessageSearchText(Array(header.readableBytesView)).summary
                    }
                    cache.insert(built)
                    for index in missing { known[index] = built[guids[index]] }
                }
                return .summaries(known)
            }
            do {
                var current = try await read(0)
                for index in batches.indices {
                    async let following = read(index + 1)
                    let first = index * Self.searchBatch + 1
                    for (offset, guid) in batches[index].enumerated() {
                        guard let text = current.text(guid, at: offset) else { continue }
                        if evaluator.matches(command.key, seq: first + offset, message: text) {
                            matched.append(first + offset)
                        }
                    }
                    current = .bytes([:])
                    current = try await following
                }
            } catch let error as MailStoreError {
                return Completion(error)
            } catch {
                return Completion(MailStoreError(.ioFailure, "\(error)"))
            }
        } else {
            for seq in 1...max(selected.count, 1) where seq <= selected.count {
                if evaluator.matches(command.key, seq: seq, message: nil) { matched.append(seq) }
            }
        }
        let numbers = matched.map { uid ? selected.entry(at: $0).uid.rawValue : UInt32($0) }
        let mentionsModSeq = IMAPSession.mentionsModSeq(command.key)
        let highest = matched.map { selected.entry(at: $0).modSeq.rawValue }.max()

        // IMAP4rev2 answers every SEARCH with ESEARCH (RFC 9051 §6.4.4).
        guard let options = command.returnOptions ?? (session.rev2 ? [] : nil) else {
            var line = "SEARCH" + numbers.map { " \($0)" }.joined()
            if mentionsModSeq, let highest { line += " (MODSEQ \(highest))" }
            untagged(line)
            return .ok("\(uid ? "UID SEARCH" : "SEARCH") completed")
        }
        let effective = options.isEmpty ? [SearchReturnOption.all] : options
        if effective.contains(.save) {
            // RFC 5182 §2.4: with MIN or MAX alone, only those are saved.
            let uids = matched.map { selected.entry(at: $0).uid }
            let onlyEnds =
                !effective.contains(.all) && !effective.contains(.count)
                && (effective.contains(.min) || effective.contains(.max))
            if onlyEnds {
                var kept: [UID] = []
                if effective.contains(.min), let first = uids.first { kept.append(first) }
                if effective.contains(.max), let last = uids.last { kept.append(last) }
                session.savedSearch = UIDSet(kept)
            } else {
                session.savedSearch = UIDSet(uids)
            }
        }
        let reported = effective.filter { $0 != .save }
        if reported.isEmpty { return .ok("\(uid ? "UID SEARCH" : "SEARCH") completed") }
        var line = "ESEARCH (TAG \"\(tag)\")" + (uid ? " UID" : "")
        if reported.contains(.min), let first = numbers.first { line += " MIN \(first)" }
        if reported.contains(.max), let last = numbers.last { line += " MAX \(last)" }
        if reported.contains(.count) { line += " COUNT \(numbers.count)" }
        if reported.contains(.all), !numbers.isEmpty {
            line += " ALL " + UIDSet(ranges: numbers.map { $0...$0 }).description
        }
        if mentionsModSeq, let highest { line += " MODSEQ \(highest)" }
        untagged(line)
        return .ok("\(uid ? "UID SEARCH" : "SEARCH") completed")
    }
}

/// One batch of a text SEARCH: message bytes (or headers), or cached header summaries.
enum SearchBatch: Sendable {
    case bytes([MessageGUID: ByteBuffer])
    /// Position for position with the batch's GUIDs.
    case summaries([SearchHeaderSummary?])

    /// The searchable text of the batch's message at `offset`; nil if the store did not have it.
    func text(_ guid: MessageGUID, at offset: Int) -> MessageSearchText? {
        switch self {
        case .bytes(let messages): messages[guid].map { MessageSearchText(Array($0.readableBytesView)) }
        case .summaries(let summaries): summaries[offset].map { MessageSearchText(summary: $0) }
        }
    }
}
