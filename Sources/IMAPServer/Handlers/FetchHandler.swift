import IMAPCodec
import MailCore
import MailMessage
import MailStore
import NIOCore
import ServerSupport

/// FETCH and UID FETCH (RFC 9051 §6.4.5, BINARY RFC 3516, CONDSTORE/QRESYNC RFC 7162,
/// OBJECTID RFC 8474, SAVEDATE RFC 8514).
extension IMAPSessionRunner {
    /// Named limits: messages, and bytes, read from the store per FETCH batch (two batches
    /// are held at a time: one being written, the next being read).
    static var fetchBatch: Int { 64 }
    static var fetchBatchBytes: Int64 { 4 << 20 }

    /// Resolves a sequence set (or `$`) to sequence numbers; nil when a message number is out of
    /// range (a BAD for sequence numbers; UIDs that do not exist are simply skipped).
    func resolve(_ set: SequenceSet, uid: Bool) -> [Int]? {
        guard let selected = session.selected else { return [] }
        guard case .ranges = set else {
            return selected.sequences(forUIDs: session.savedSearch)
        }
        if uid {
            guard let uids = set.resolved(largest: max(selected.largestUID, 0)) else { return [] }
            return selected.sequences(forUIDs: uids)
        }
        guard let numbers = set.resolved(largest: UInt32(selected.count)) else { return [] }
        if let last = numbers.ranges.last, last.upperBound > UInt32(selected.count) { return nil }
        if numbers.ranges.first?.lowerBound == 0 { return nil }
        return selected.sequences(for: numbers)
    }

    func fetch(
        _ set: SequenceSet,
        _ requested: [FetchAttribute],
        _ modifiers: FetchModifiers,
        uid: Bool
    ) async throws -> Completion {
        guard var selected = session.selected else { return .bad("No mailbox selected") }
        guard let sequences = resolve(set, uid: uid) else { return .bad("Invalid message sequence number") }
        if modifiers.vanished && (!uid || modifiers.changedSince == nil || !session.qresyncEnabled) {
            return .bad("VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC")
        }
        if sequences.count > configuration.maxFetchMessages {
            return .no("FETCH of more than \(configuration.maxFetchMessages) messages", .limit)
        }
        var attributes = requested
        if uid && !attributes.contains(.uid) { attributes.insert(.uid, at: 0) }
        if modifiers.changedSince != nil && !attributes.contains(.modSeq) { attributes.append(.modSeq) }

        if modifiers.vanished, let since = modifiers.changedSince, case .ranges = set,
            let uids = set.resolved(largest: max(selected.uidNext - 1, 1))
        {
            let vanished = (try? await store.mailboxChanges(selected.name, since: ModSeq(since))?.1) ?? []
            let gone = UIDSet(vanished.filter { $0.isExpunged && uids.contains($0.uid) }.map(\.uid))
            if !gone.isEmpty { untagged("VANISHED (EARLIER) \(gone)") }
        }
        let targets = sequences.filter { seq in
            guard let since = modifiers.changedSince else { return true }
            return selected.entry(at: seq).modSeq.rawValue > since
        }

        // Reading a body without PEEK sets \Seen (RFC 9051 §6.4.5), in one store write.
        let wantsSeen =
            !selected.readOnly
            && attributes.contains { attribute in
                switch attribute {
                case .rfc822, .rfc822Text: true
                case .bodySection(_, let peek, _), .binary(_, let peek, _): !peek
                default: false
                }
            }
        // On a fenced replica a FETCH reads as with PEEK.
        let gate = configuration.writeGate
        let setsSeen = wantsSeen && (gate?.enter() ?? true)
        defer { if setsSeen { gate?.leave() } }
        var flagsChanged = Set<Int>()
        if setsSeen {
            let unseen = targets.filter { !selected.entry(at: $0).flags.contains(.seen) }
            if !unseen.isEmpty, selected.privateSeen != nil {
                let changed = selected.setPrivateSeen(unseen.map { selected.entry(at: $0).uid }, seen: true)
                do {
                    try await savePrivateSeen(selected)
                } catch {
                    return Completion(error)
                }
                session.selected = selected
                flagsChanged = Set(changed)
            } else if !unseen.isEmpty {
                do {
                    let changed = try await store.storeFlags(
                        .add(FlagSet([.seen])),
                        uids: unseen.map { selected.entry(at: $0).uid },
                        in: selected.name,
                        unchangedSince: nil
                    ).changed
                    for record in changed { selected.noteStored(record) }
                    session.selected = selected
                    flagsChanged = Set(unseen)
                } catch {
                    return Completion(error)
                }
            }
        }

        let needsBytes = !attributes.allSatisfy(Self.answeredFromRecord)
        // ENVELOPE and top-level header sections need only the cached header.
        let headersOnly = attributes.allSatisfy { attribute in
            switch attribute {
            case .envelope, .rfc822Header: true
            case .bodySection(let section, _, _):
                section.part.isEmpty
                    && {
                        switch section.text {
                        case .header, .headerFields, .headerFieldsNot: true
                        default: false
                        }
                    }()
            default: Self.answeredFromRecord(attribute)
            }
        }
        var fetchedBytes = 0
        var lines = ByteBuffer()
        defer { IMAPMetrics.fetchedBytes.increment(by: Int64(fetchedBytes)) }
        flagTextCache.removeAll(keepingCapacity: true)
        // Batches of messages read in one store read each: up to fetchBatch messages or
        // fetchBatchBytes, whichever comes first (at least one message). While one batch is
        // written out, the next is read.
        // FLAGS-only fetches (a client's resync of 100,000 messages) read no message: one
        // batch, no reads.
        var batches: [Range<Int>] = needsBytes || targets.isEmpty ? [] : [0..<targets.count]
        var index = needsBytes ? 0 : targets.count
        while index < targets.count {
            var end = index
            var batchBytes: Int64 = 0
            while end < targets.count, end - index < Self.fetchBatch,
                end == index || batchBytes + selected.entry(at: targets[end]).size <= Self.fetchBatchBytes
            {
                batchBytes += selected.entry(at: targets[end]).size
                end += 1
            }
            batches.append(index..<end)
            index = end
        }
        let store = self.store
        let guidBatches =
            needsBytes ? batches.map { range in targets[range].map { selected.entry(at: $0).guid } } : []
        @Sendable func read(_ number: Int) async throws(MailStoreError) -> [MessageGUID: ByteBuffer] {
            guard number < guidBatches.count else { return [:] }
            return try await headersOnly
                ? store.messageHeaders(guidBatches[number]) : store.messageBytes(guidBatches[number])
        }
        var next: [MessageGUID: ByteBuffer]
        do {
            next = try await read(0)
        } catch {
            out.writeBuffer(&lines)
            return Completion(error)
        }
        for (number, range) in batches.enumerated() {
            let batch = targets[range]
            let bodies = next
            next = [:]
            async let following = read(number + 1)
            for seq in batch {
                let entry = selected.entry(at: seq)
                var items = attributes
                if flagsChanged.contains(seq) && !items.contains(.flags) { items.append(.flags) }
                var message: [UInt8] = []
                if needsBytes {
                    guard let bytes = bodies[entry.guid] else {
                        logger.error("message bytes missing", metadata: ["guid": "\(entry.guid)"])
                        out.writeBuffer(&lines)
                        untagged(status: .no, code: .corruption, text: "Message \(seq) is unreadable")
                        continue
                    }
                    if bytes.readableBytes >= Self.directWriteMinimum, let body = Self.verbatimBody(in: items) {
                        // The message goes out as read, queued whole: no copies.
                        try await writeVerbatim(seq, entry, items, body: body, bytes, lines: &lines)
                        fetchedBytes += bytes.readableBytes
                        continue
                    }
                    message = Array(bytes.readableBytesView)
                }
                // Written into a local buffer (no per-access exclusivity checks on the session
                // object), moved to the output and flushed only when it is large.
                writeFetchResponse(seq, entry, items, message, into: &lines)
                fetchedBytes += message.count
                if lines.readableBytes >= Self.flushThreshold {
                    out.writeBuffer(&lines)
                    try await flush()
                }
            }
            // What this batch queued goes out while the next batch is awaited.
            if !queued.isEmpty {
                out.writeBuffer(&lines)
                try await flush()
            }
            do {
                next = try await following
            } catch let error as MailStoreError {
                out.writeBuffer(&lines)
                return Completion(error)
            } catch {
                out.writeBuffer(&lines)
                return Completion(MailStoreError(.ioFailure, "\(error)"))
            }
        }
        out.writeBuffer(&lines)
        return .ok("\(uid ? "UID FETCH" : "FETCH") completed")
    }

    /// A flag list's text, remembered for the rest of the command: a mailbox has few distinct
    /// flag combinations, and `UID FETCH 1:* (FLAGS)` writes one per message.
    func flagText(_ flags: FlagSet) -> String {
        if let known = flagTextCache[flags] { return known }
        let text = flagList(flags)
        if flagTextCache.count < 1024 { flagTextCache[flags] = text }
        return text
    }

    /// Named limit: messages at least this large are written as read, in a write of their
    /// own, when the response carries them whole (`BODY[]`, `BODY.PEEK[]`, `RFC822`); smaller
    /// ones are copied into the response buffer, which saves writes.
    static var directWriteMinimum: Int { 16 * 1024 }

    /// Whether the attribute comes from the message's record alone (no message bytes).
    static func answeredFromRecord(_ attribute: FetchAttribute) -> Bool {
        switch attribute {
        case .flags, .uid, .internalDate, .rfc822Size, .modSeq, .emailID, .threadID, .saveDate: true
        default: false
        }
    }

    /// The index of the one attribute that carries the whole message, if every other
    /// attribute is answered from the record alone.
    static func verbatimBody(in attributes: [FetchAttribute]) -> Int? {
        var body: Int?
        for (index, attribute) in attributes.enumerated() where !answeredFromRecord(attribute) {
            switch attribute {
            case .rfc822, .bodySection(.whole, _, nil):
                if body != nil { return nil }
                body = index
            default:
                return nil
            }
        }
        return body
    }

    /// `* seq FETCH (...)` with the message bytes written straight from the store's buffer.
    func writeVerbatim(
        _ seq: Int,
        _ entry: SelectedMailbox.Entry,
        _ attributes: [FetchAttribute],
        body: Int,
        _ bytes: ByteBuffer,
        lines: inout ByteBuffer
    ) async throws {
        lines.writeString("* \(seq) FETCH (")
        writeAttributes(attributes[..<body], entry, [], into: &lines)
        if body > 0 { lines.writeString(" ") }
        lines.writeString(attributes[body] == .rfc822 ? "RFC822 " : "BODY[] ")
        lines.writeString("{\(bytes.readableBytes)}\r\n")
        out.writeBuffer(&lines)
        try await writeWhole(bytes)
        if body + 1 < attributes.count {
            lines.writeString(" ")
            writeAttributes(attributes[(body + 1)...], entry, [], into: &lines)
        }
        lines.writeString(")\r\n")
    }

    /// Writes `* seq FETCH (...)` for one message.
    func writeFetchResponse(
        _ seq: Int,
        _ entry: SelectedMailbox.Entry,
        _ attributes: [FetchAttribute],
        _ message: [UInt8],
        into buffer: inout ByteBuffer
    ) {
        buffer.writeString("* \(seq) FETCH (")
        writeAttributes(attributes[...], entry, message, into: &buffer)
        buffer.writeString(")\r\n")
    }

    /// The attributes of a FETCH response, space-separated.
    func writeAttributes(
        _ attributes: ArraySlice<FetchAttribute>,
        _ entry: SelectedMailbox.Entry,
        _ message: [UInt8],
        into buffer: inout ByteBuffer
    ) {
        var parsed: MIMEPart?
        func part() -> MIMEPart {
            if let parsed { return parsed }
            let value = MIMEPart.parse(message)
            parsed = value
            return value
        }
        for (index, attribute) in attributes.enumerated() {
            if index > 0 { buffer.writeString(" ") }
            switch attribute {
            case .uid:
                buffer.writeString("UID \(entry.uid.rawValue)")
            case .flags:
                buffer.writeString("FLAGS (")
                buffer.writeString(flagText(entry.flags))
                buffer.writeString(")")
            case .internalDate:
                buffer.writeString("INTERNALDATE \"\(IMAPDateTime.format(entry.internalDate))\"")
            case .saveDate:
                buffer.writeString("SAVEDATE \"\(IMAPDateTime.format(entry.saveDate))\"")
            case .rfc822Size:
                buffer.writeString("RFC822.SIZE \(entry.size)")
            case .modSeq:
                buffer.writeString("MODSEQ (\(entry.modSeq.rawValue))")
            case .emailID:
                buffer.writeString("EMAILID (M\(entry.guid.hex.prefix(24)))")
            case .threadID:
                buffer.writeString("THREADID NIL")
            case .envelope:
                buffer.writeString("ENVELOPE ")
                IMAPWriter.writeEnvelope(Envelope(header: part().header), into: &buffer)
            case .bodyStructure:
                buffer.writeString("BODYSTRUCTURE ")
                IMAPWriter.writeBodyStructure(BodyStructure(part(), in: message), extensions: true, into: &buffer)
            case .bodyStructureNonExtensible:
                buffer.writeString("BODY ")
                IMAPWriter.writeBodyStructure(BodyStructure(part(), in: message), extensions: false, into: &buffer)
            case .rfc822:
                buffer.writeString("RFC822 ")
                writeLiteral(message[...], into: &buffer)
            case .rfc822Header:
                buffer.writeString("RFC822.HEADER ")
                writeLiteral(
                    MessageSection(text: .header).extract(from: message, structure: part())?[...] ?? [],
                    into: &buffer
                )
            case .rfc822Text:
                buffer.writeString("RFC822.TEXT ")
                writeLiteral(
                    MessageSection(text: .text).extract(from: message, structure: part())?[...] ?? [],
                    into: &buffer
                )
            case .bodySection(let section, _, let partial):
                // BODY[] is the message itself: no MIME parse.
                let bytes = section == .whole ? message : section.extract(from: message, structure: part()) ?? []
                buffer.writeString("BODY[\(section.wireName)]")
                writePartial(bytes, partial, into: &buffer)
            case .binary(let partNumbers, _, let partial):
                switch MessageSection.binaryContent(part: partNumbers, of: message, structure: part()) {
                case .content(let bytes):
                    buffer.writeString("BINARY[\(partNumbers.map(String.init).joined(separator: "."))]")
                    writePartial(bytes, partial, binary: true, into: &buffer)
                case .unknownTransferEncoding, .nonexistentPart:
                    buffer.writeString("BINARY[\(partNumbers.map(String.init).joined(separator: "."))] NIL")
                }
            case .binarySize(let partNumbers):
                let size = MessageSection.binaryContent(part: partNumbers, of: message, structure: part()).size ?? 0
                buffer.writeString("BINARY.SIZE[\(partNumbers.map(String.init).joined(separator: "."))] \(size)")
            }
        }
    }

    func writePartial(_ bytes: [UInt8], _ partial: FetchPartial?, binary: Bool = false, into buffer: inout ByteBuffer) {
        guard let partial else {
            buffer.writeString(" ")
            writeLiteral(bytes[...], binary: binary, into: &buffer)
            return
        }
        buffer.writeString("<\(partial.offset)> ")
        let start = min(Int(partial.offset), bytes.count)
        let end = min(start + Int(partial.length), bytes.count)
        writeLiteral(bytes[start..<end], binary: binary, into: &buffer)
    }

    /// A literal (`literal8` `~{n}` when the bytes hold NUL, RFC 3516).
    func writeLiteral(_ bytes: ArraySlice<UInt8>, binary: Bool = false, into buffer: inout ByteBuffer) {
        let prefix = binary && bytes.contains(0) ? "~{" : "{"
        buffer.writeString("\(prefix)\(bytes.count)}\r\n")
        buffer.writeBytes(bytes)
    }
}
