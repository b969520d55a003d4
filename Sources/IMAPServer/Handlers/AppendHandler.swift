import IMAPCodec
import MailCore
import MailStore
import NIOCore
import ServerSupport

/// A streamed APPEND in progress: the message literals go to the store's staging area as they
/// arrive, never whole into memory. A class, so the session keeps a reference to it rather
/// than room for all of it (the session object stays small while idle).
final class AppendInProgress {
    var tag: String
    var mailbox: Mailbox
    /// Messages staged so far, with their flags and dates (MULTIAPPEND, RFC 3502).
    var staged: [(message: StagedMessage, flags: FlagSet, internalDate: UnixTime)] = []
    /// The message being received.
    var staging: (any MessageStagingWriter)?
    var flags = FlagSet()
    var internalDate: UnixTime = 0
    /// Set when the command already failed; the rest of its bytes are read and dropped.
    var failure: Completion?

    init(tag: String, mailbox: Mailbox) {
        self.tag = tag
        self.mailbox = mailbox
    }
}

extension IMAPSessionRunner {
    /// The target of an APPEND: it must exist (else TRYCREATE) and allow `i`.
    func appendTarget(_ argument: MailboxArgument) async -> Result<Mailbox, Completion> {
        guard let name = internalName(argument) else { return .failure(.no("Invalid mailbox name", .cannot)) }
        do {
            guard let mailbox = try await store.mailbox(name) else {
                return .failure(.no("Mailbox does not exist", .tryCreate))
            }
            let rights = access.rights(on: mailbox)
            guard rights.contains("l") || rights.contains("i") || rights.contains("r") else {
                return .failure(.no("Mailbox does not exist", .tryCreate))
            }
            guard rights.contains("i") else { return .failure(.no("Permission denied", .noPerm)) }
            return .success(mailbox)
        } catch {
            return .failure(Completion(error))
        }
    }

    /// The flags and internal date of one APPEND message, validated.
    func appendArguments(_ message: AppendMessage) -> Result<(FlagSet, UnixTime), Completion> {
        var flags = FlagSet()
        for flag in message.flags {
            if flag.name.lowercased() == "\\recent" { continue }
            if flag.isSystem && flag.systemBit == nil { return .failure(.bad("Invalid system flag \(flag)")) }
            flags.insert(flag)
        }
        var date = connection.clock()
        if let text = message.internalDate {
            guard let parsed = IMAPDateTime.parse(text) else { return .failure(.bad("Invalid date-time \(text)")) }
            date = parsed
        }
        return .success((flags, date))
    }

    /// APPEND whose messages arrived inside the command frame (clients encoding APPEND for
    /// small messages, and the test client); the streaming path shares the commit below.
    func appendBuffered(_ argument: MailboxArgument, _ messages: [AppendMessage]) async -> Completion {
        let mailbox: Mailbox
        switch await appendTarget(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        var staged: [(message: StagedMessage, flags: FlagSet, internalDate: UnixTime)] = []
        for message in messages {
            let flags: FlagSet
            let date: UnixTime
            switch appendArguments(message) {
            case .failure(let completion):
                return completion
            case .success(let parsed): (flags, date) = parsed
            }
            guard message.bytes.readableBytes > 0 else { return .no("Empty message", .cannot) }
            guard message.bytes.readableBytes <= configuration.maxMessageSize else {
                return .no("Message too large (APPENDLIMIT \(configuration.maxMessageSize))", .tooBig)
            }
            do {
                let writer = try await store.beginMessage()
                try await writer.write(message.bytes)
                staged.append((try await writer.finish(), flags, date))
            } catch {
                return Completion(error)
            }
        }
        return await commitAppend(staged, to: mailbox)
    }

    /// Delivers staged messages in order; a failure undoes the ones already appended, so a
    /// MULTIAPPEND is all or nothing (RFC 3502 §6.3.11).
    func commitAppend(
        _ staged: [(message: StagedMessage, flags: FlagSet, internalDate: UnixTime)],
        to mailbox: Mailbox
    ) async -> Completion {
        let gate = configuration.writeGate
        guard gate?.enter() ?? true else {
            for item in staged { await store.discardStagedMessage(item.message) }
            return .no("This server is a replica now and takes no changes; use the master", .unavailable)
        }
        defer { gate?.leave() }
        var appended: [AppendedMessage] = []
        for item in staged {
            let target = DeliveryTarget(mailbox: mailbox.name, flags: item.flags, internalDate: item.internalDate)
            switch await store.deliver(item.message, to: [target])[0] {
            case .success(let result):
                appended.append(result)
            case .failure(let error):
                // Staged bytes not yet delivered are released by the store's staging cleanup.
                if !appended.isEmpty {
                    _ = try? await store.expunge(uids: appended.map(\.uid), in: mailbox.name)
                }
                return Completion(error)
            }
        }
        if let replicaAck = configuration.replicaAck, !appended.isEmpty,
            !(await replicaAck.waitForReplicas(of: [mailbox.name]))
        {
            // `sync_ack: replica` and no replica confirmed in time: taken back out, so the
            // client retries and never holds an OK for mail only this machine has.
            _ = try? await store.expunge(uids: appended.map(\.uid), in: mailbox.name)
            return .no("Not yet stored on a replica, try again later", .unavailable)
        }
        IMAPMetrics.appends.increment(by: Int64(appended.count))
        guard let first = appended.first else { return .ok("APPEND completed") }
        let uids = UIDSet(appended.map(\.uid)).description
        return .ok("APPEND completed", .appendUID(uidValidity: first.uidValidity.rawValue, uids: uids))
    }

    /// Streaming APPEND (RFC 9051 §6.3.12, MULTIAPPEND RFC 3502): each message literal goes to
    /// the store's staging area chunk by chunk as the decoder hands it over.
    func handleAppendEvent(_ event: IMAPFrameDecoder.Event) async throws -> FrameOutcome {
        switch event {
        case .appendMessageBegin(let prefix, let size, let synchronizing):
            if let failure = await beginAppendMessage(prefix: prefix, size: size) {
                decoder.rejectAppendMessage()
                let tag = append?.tag ?? IMAPCommandParser.tag(of: prefix)
                await abandonAppend()
                reply(tag, failure)
                if failure.status == .bad { session.badCommandReceived() }
                return session.tooManyErrors ? bye("Too many errors") : .continue
            }
            decoder.acceptAppendMessage()
            if synchronizing {
                IMAPResponse.continuation("Ready for literal data").write(into: &out)
                try await flush()
            }
            return .continue
        case .appendMessageBytes(let bytes):
            guard let staging = append?.staging else { return .continue }
            do {
                try await staging.write(bytes)
            } catch {
                append?.failure = Completion(error)
                await staging.discard()
                append?.staging = nil
            }
            return .continue
        case .appendMessageEnd:
            guard let staging = append?.staging else { return .continue }
            append?.staging = nil
            do {
                let message = try await staging.finish()
                if let current = append {
                    current.staged.append((message, current.flags, current.internalDate))
                }
            } catch {
                append?.failure = Completion(error)
            }
            return .continue
        case .appendEnd:
            guard let current = append else { return .continue }
            append = nil
            let completion: Completion
            if let failure = current.failure {
                completion = failure
            } else {
                completion = await commitAppend(current.staged, to: current.mailbox)
            }
            if completion.status != .bad { session.commandCompleted() }
            dirty = true
            await refresh(allowExpunge: true)
            tagged(current.tag, completion)
            return .continue
        case .appendMalformed(let tag):
            await abandonAppend()
            session.badCommandReceived()
            reply(tag, .bad("Malformed APPEND: expected another message or the end of the command"))
            return session.tooManyErrors ? bye("Too many errors") : .continue
        default:
            return .continue
        }
    }

    /// Checks one announced message (and, for the first, the command and its mailbox) and
    /// opens its staging writer; returns the refusal otherwise.
    private func beginAppendMessage(prefix: ByteBuffer, size: Int) async -> Completion? {
        let arguments: AppendMessage
        if append == nil {
            let tag: String
            let mailboxArgument: MailboxArgument
            do {
                (tag, mailboxArgument, arguments) = try IMAPCommandParser.parseAppendStart(prefix)
            } catch {
                return .bad(error.text)
            }
            if case .refuse(let status, let code, let text) = session.commandReceived(.append(mailboxArgument, [])) {
                return Completion(status: status, code: code, text: text)
            }
            switch await appendTarget(mailboxArgument) {
            case .failure(let completion): return completion
            case .success(let mailbox): append = AppendInProgress(tag: tag, mailbox: mailbox)
            }
        } else {
            do {
                arguments = try IMAPCommandParser.parseAppendNext(prefix)
            } catch {
                return .bad(error.text)
            }
        }
        guard size > 0 else { return .no("Empty message", .cannot) }
        guard size <= configuration.maxMessageSize else {
            return .no("Message too large (APPENDLIMIT \(configuration.maxMessageSize))", .tooBig)
        }
        switch appendArguments(arguments) {
        case .failure(let completion): return completion
        case .success(let (flags, date)):
            append?.flags = flags
            append?.internalDate = date
        }
        do {
            append?.staging = try await store.beginMessage()
        } catch {
            return Completion(error)
        }
        return nil
    }

    /// Drops a failed APPEND's staged data.
    func abandonAppend() async {
        await append?.staging?.discard()
        append = nil
    }
}
