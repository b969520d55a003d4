import IMAPCodec
import MailCore
import MailStore
import NIOCore

/// GETMETADATA and SETMETADATA on mailboxes and on the server (RFC 5464), kept as the store's
/// annotations the way Cyrus keeps them: `/shared/X` is entry `/X` with no user, `/private/X`
/// is entry `/X` for the user.
extension IMAPSessionRunner {
    /// Named limits.
    static var maxMetadataValueSize: Int { 64 * 1024 }
    static var maxMetadataEntriesPerMailbox: Int { 1000 }

    /// Splits `/shared/comment` into (`/comment`, userID); nil when the name is invalid.
    func annotationKey(_ entry: String) -> (entry: String, userID: String)? {
        let lower = entry.lowercased()
        guard !entry.contains("*"), !entry.contains("%"), !entry.contains("//"), !entry.hasSuffix("/"),
            entry.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f })
        else { return nil }
        if lower.hasPrefix("/shared/") { return (String(entry.dropFirst(7)), "") }
        if lower.hasPrefix("/private/") { return (String(entry.dropFirst(8)), session.user!.name) }
        return nil
    }

    func getMetadata(_ argument: MailboxArgument, options: MetadataOptions, entries: [String]) async -> Completion {
        // "" names the server (RFC 5464 §4.2): readable by every user, private entries per user.
        let stored: [Annotation]
        let clientName: String
        if argument.bytes.isEmpty {
            clientName = ""
            do {
                stored = try await store.serverAnnotations()
            } catch {
                return Completion(error)
            }
        } else {
            let mailbox: Mailbox
            switch await visibleMailbox(argument) {
            case .failure(let completion): return completion
            case .success(let found): mailbox = found
            }
            if let refusal = require("r", on: mailbox) ?? nil, !access.has("l", on: mailbox) { return refusal }
            clientName = namespaceMap.clientName(for: mailbox.name)
            do {
                stored = try await store.annotations(in: mailbox.name).filter { $0.uid == nil }
            } catch {
                return Completion(error)
            }
        }
        var found: [(String, [UInt8])] = []
        var longest = 0
        for requested in entries {
            guard let key = annotationKey(requested) else { return .bad("Invalid entry name \(requested)") }
            let prefix = requested.lowercased().hasPrefix("/shared/") ? "/shared" : "/private"
            for annotation in stored where annotation.userID == key.userID {
                guard let value = annotation.value else { continue }
                let name = annotation.entry.lowercased()
                let target = key.entry.lowercased()
                let depthOK: Bool
                switch options.depth {
                case .zero: depthOK = name == target
                case .one:
                    depthOK =
                        name == target
                        || (name.hasPrefix(target + "/") && !name.dropFirst(target.count + 1).contains("/"))
                case .infinity: depthOK = name == target || name.hasPrefix(target + "/")
                }
                guard depthOK else { continue }
                if let maxSize = options.maxSize, value.count > Int(maxSize) {
                    longest = max(longest, value.count)
                    continue
                }
                found.append((prefix + annotation.entry, value))
            }
        }
        if !found.isEmpty {
            var line = ByteBuffer()
            line.writeString("* METADATA \(quotedName(clientName)) (")
            for (index, item) in found.enumerated() {
                if index > 0 { line.writeString(" ") }
                IMAPWriter.writeString(Array(item.0.utf8), into: &line)
                line.writeString(" ")
                IMAPWriter.writeString(item.1, into: &line)
            }
            line.writeString(")\r\n")
            out.writeBuffer(&line)
        }
        if longest > 0 { return .ok("GETMETADATA completed", .other("METADATA LONGENTRIES \(longest)")) }
        return .ok("GETMETADATA completed")
    }

    func setMetadata(_ argument: MailboxArgument, entries: [MetadataEntry]) async -> Completion {
        if argument.bytes.isEmpty { return await setServerMetadata(entries) }
        let mailbox: Mailbox
        switch await visibleMailbox(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        var annotations: [Annotation] = []
        for entry in entries {
            guard let key = annotationKey(entry.name) else { return .bad("Invalid entry name \(entry.name)") }
            let needed: Character = key.userID.isEmpty ? "w" : "l"
            if let refusal = require(needed, on: mailbox) { return refusal }
            if let value = entry.value, value.count > Self.maxMetadataValueSize {
                return .no("Value too large", .other("METADATA MAXSIZE \(Self.maxMetadataValueSize)"))
            }
            annotations.append(Annotation(uid: nil, entry: key.entry, userID: key.userID, value: entry.value))
        }
        do {
            let existing = try await store.annotations(in: mailbox.name).filter { $0.uid == nil }.count
            if existing + annotations.count > Self.maxMetadataEntriesPerMailbox {
                return .no("Too many entries", .other("METADATA TOOMANY"))
            }
            for annotation in annotations { try await store.setAnnotation(annotation, in: mailbox.name) }
            return .ok("SETMETADATA completed")
        } catch {
            return Completion(error)
        }
    }

    /// Server entries (RFC 5464 §4.3 with mailbox ""): `/shared/` ones only by admins, as in
    /// Cyrus; `/private/` ones by each user for themselves.
    private func setServerMetadata(_ entries: [MetadataEntry]) async -> Completion {
        var annotations: [Annotation] = []
        for entry in entries {
            guard let key = annotationKey(entry.name) else { return .bad("Invalid entry name \(entry.name)") }
            if key.userID.isEmpty && !access.isAdmin {
                return .no("Only administrators may set shared server metadata", .noPerm)
            }
            if let value = entry.value, value.count > Self.maxMetadataValueSize {
                return .no("Value too large", .other("METADATA MAXSIZE \(Self.maxMetadataValueSize)"))
            }
            annotations.append(Annotation(uid: nil, entry: key.entry, userID: key.userID, value: entry.value))
        }
        do {
            let existing = try await store.serverAnnotations().count
            if existing + annotations.count > Self.maxMetadataEntriesPerMailbox {
                return .no("Too many entries", .other("METADATA TOOMANY"))
            }
            for annotation in annotations { try await store.setServerAnnotation(annotation) }
            return .ok("SETMETADATA completed")
        } catch {
            return Completion(error)
        }
    }
}
