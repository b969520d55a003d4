import MailCore
import MailStore
import NIOCore
import POP3Codec

extension POP3SessionRunner {
    /// LIST (RFC 1939 §5): one message, or a scan listing of every undeleted one.
    func list(_ number: Int?) {
        let drop = maildrop!
        guard let number else {
            let (count, size) = drop.statistics
            send(.ok("\(count) messages (\(size) octets)"))
            var lines: [String] = []
            lines.reserveCapacity(count)
            for (index, message) in drop.messages.enumerated() where !message.deleted {
                lines.append("\(index + 1) \(message.size)")
            }
            POP3MessageEncoder.writeLines(lines, into: &out)
            return
        }
        guard let message = drop.message(number) else { return send(.err("No such message")) }
        send(.ok("\(number) \(message.size)"))
    }

    /// UIDL (RFC 1939 §7): Cyrus's `UIDVALIDITY.UID`, stable for the message's life.
    func uidl(_ number: Int?) {
        let drop = maildrop!
        guard let number else {
            send(.ok("Unique-id listing follows"))
            var lines: [String] = []
            lines.reserveCapacity(drop.messages.count)
            for (index, message) in drop.messages.enumerated() where !message.deleted {
                lines.append("\(index + 1) \(drop.uniqueID(of: message))")
            }
            POP3MessageEncoder.writeLines(lines, into: &out)
            return
        }
        guard let message = drop.message(number) else { return send(.err("No such message")) }
        send(.ok("\(number) \(drop.uniqueID(of: message))"))
    }

    /// RETR, and TOP with `bodyLines` (RFC 1939 §5, §7): the stored bytes, dot-stuffed,
    /// written out in slices so a large message is never copied whole into the output.
    func retrieve(_ number: Int, bodyLines: Int?) async throws {
        guard let message = maildrop!.message(number) else { return send(.err("No such message")) }
        let bytes: ByteBuffer
        do {
            bytes = try await messageBytes(number)
        } catch {
            // Expunged by another session and already collected (the snapshot still lists it).
            logger.notice("pop3 message unavailable", metadata: ["uid": "\(message.uid)", "error": "\(error)"])
            return send(.err(.systemPermanent, "Message \(number) is no longer available"))
        }
        send(.ok(bodyLines == nil ? "\(message.size) octets" : "Top of message follows"))
        var encoder = POP3MessageEncoder(bodyLines: bodyLines)
        var offset = bytes.readerIndex
        let end = bytes.writerIndex
        let slice = Self.flushThreshold
        while offset < end, !encoder.isComplete {
            let length = min(slice, end - offset)
            encoder.encode(bytes.getSlice(at: offset, length: length)!, into: &out)
            offset += length
            if out.readableBytes >= Self.flushThreshold { try await flush() }
        }
        encoder.finish(into: &out)
        if bodyLines == nil {
            maildrop!.markRetrieved(number)
            POP3Metrics.retrievedMessages.increment()
            POP3Metrics.retrievedBytes.increment(by: Int64(bytes.readableBytes))
        }
    }

    /// The bytes of message `number`, read together with the next few messages: clients
    /// retrieve in order, so one store read serves several RETRs (at most ``prefetchLimit``
    /// bytes are held ahead).
    func messageBytes(_ number: Int) async throws -> ByteBuffer {
        if let bytes = prefetched.removeValue(forKey: number) { return bytes }
        let drop = maildrop!
        var batch: [(Int, MessageGUID)] = []
        var total: Int64 = 0
        var next = number
        while next <= drop.messages.count, batch.count < Self.prefetchMessages {
            let message = drop.messages[next - 1]
            if !message.deleted {
                if !batch.isEmpty && total + message.size > Self.prefetchLimit { break }
                batch.append((next, message.guid))
                total += message.size
            }
            next += 1
        }
        let found = try await store.messageBytes(batch.map(\.1))
        prefetched = [:]
        for (other, guid) in batch.dropFirst() { prefetched[other] = found[guid] }
        guard let bytes = found[drop.messages[number - 1].guid] else {
            throw MailStoreError(.nonexistent, "message \(number) is no longer stored")
        }
        return bytes
    }

    /// Named limits: how much is read ahead for in-order retrieval.
    static var prefetchLimit: Int64 { 1 << 20 }
    static var prefetchMessages: Int { 16 }

    /// QUIT (RFC 1939 §6): in TRANSACTION, the UPDATE state — \Seen for retrieved messages
    /// (popuseimapflags), the expunge of those marked deleted, `pop3_last_login` — each
    /// durable before the reply.
    func quit() async -> Outcome {
        guard session.state == .transaction, let drop = maildrop else {
            send(.ok("Corvid POP3 server signing off"))
            return .stop
        }
        session.quitReceived()
        let inbox = drop.mailboxName
        // A fenced replica (corvid failover) changes nothing: deletions wait for the master.
        let gate = configuration.writeGate
        guard gate?.enter() ?? true else {
            guard drop.deletedUIDs.isEmpty else {
                return closing("This server is a replica now; nothing was deleted", .systemTemporary)
            }
            send(.ok("Corvid POP3 server signing off (read-only replica)"))
            return .stop
        }
        defer { gate?.leave() }
        if configuration.useIMAPFlags, !drop.retrievedUIDs.isEmpty {
            do {
                _ = try await store.storeFlags(.add(FlagSet([.seen])), uids: drop.retrievedUIDs, in: inbox)
            } catch {
                logger.error("pop3 could not set \\Seen", metadata: ["error": "\(error)"])
            }
        }
        let deleted = drop.deletedUIDs
        if !deleted.isEmpty {
            do {
                let expunged = try await store.expunge(uids: deleted, in: inbox)
                POP3Metrics.deletedMessages.increment(by: Int64(expunged.count))
            } catch {
                logger.error("pop3 expunge failed", metadata: ["error": "\(error)"])
                return closing("Some deleted messages were not removed", .systemTemporary)
            }
        }
        do {
            try await store.setPOP3LastLogin(lastLoginToRecord(previous: drop.lastLogin), in: inbox)
        } catch {
            logger.error("pop3 could not record the last login", metadata: ["error": "\(error)"])
        }
        logger.info("pop3 logout", metadata: ["deleted": "\(deleted.count)"])
        send(.ok("Corvid POP3 server signing off (\(drop.messages.count - deleted.count) messages left)"))
        return .stop
    }

    /// `pop3_last_login` as Cyrus records it at QUIT: the login time, or with `popminpoll` and
    /// `poppollpadding` > 1 a time that advances by one poll interval per session, so a client
    /// may bank up to `poppollpadding` early polls.
    func lastLoginToRecord(previous: UnixTime) -> UnixTime {
        let minPoll = Double(configuration.minPollSeconds)
        guard minPoll > 0, configuration.pollPadding > 1 else { return loginTime }
        let earliest = loginTime - minPoll * Double(configuration.pollPadding)
        return previous < earliest ? earliest + minPoll : previous + minPoll
    }
}
