import IMAPCodec
import MailCore
import MailStore

/// GETQUOTA, GETQUOTAROOT, SETQUOTA (RFC 9208). Roots are named like the mailbox they sit on,
/// in the client's namespace (Cyrus: `INBOX` for one's own, `user/bob` for an admin).
extension IMAPSessionRunner {
    func quotaLine(_ quota: QuotaRoot) -> String {
        var resources: [String] = []
        if let limit = quota.storageLimitKiB { resources.append("STORAGE \(quota.storageUsedBytes / 1024) \(limit)") }
        if let limit = quota.messageLimit { resources.append("MESSAGE \(quota.messagesUsed) \(limit)") }
        let name = (try? MailboxName(internal: quota.root)).map { namespaceMap.clientName(for: $0) } ?? quota.root
        return "QUOTA \(quotedName(name)) (\(resources.joined(separator: " ")))"
    }

    func getQuotaRoot(_ argument: MailboxArgument) async -> Completion {
        let mailbox: Mailbox
        switch await visibleMailbox(argument) {
        case .failure(let completion): return completion
        case .success(let found): mailbox = found
        }
        let clientName = namespaceMap.clientName(for: mailbox.name)
        guard let root = mailbox.quotaRoot else {
            untagged("QUOTAROOT \(quotedName(clientName))")
            return .ok("GETQUOTAROOT completed")
        }
        let rootName = (try? MailboxName(internal: root)).map { namespaceMap.clientName(for: $0) } ?? root
        untagged("QUOTAROOT \(quotedName(clientName)) \(quotedName(rootName))")
        if let quota = try? await store.quotaRoot(root) { untagged(quotaLine(quota)) }
        return .ok("GETQUOTAROOT completed")
    }

    func getQuota(root rawRoot: [UInt8]) async -> Completion {
        guard let name = internalName(MailboxArgument(rawRoot)) else { return .no("No such quota root", .nonexistent) }
        do {
            guard let quota = try await store.quotaRoot(name.internalName),
                let mailbox = try await store.mailbox(name), access.has("l", on: mailbox) || session.isAdmin
            else {
                return .no("No such quota root", .nonexistent)
            }
            untagged(quotaLine(quota))
            return .ok("GETQUOTA completed")
        } catch {
            return Completion(error)
        }
    }

    /// Admins only, as in Cyrus.
    func setQuota(root rawRoot: [UInt8], limits: [QuotaLimit]) async -> Completion {
        guard session.isAdmin else { return .no("Only administrators may set quotas", .noPerm) }
        guard let name = internalName(MailboxArgument(rawRoot)) else { return .no("Invalid quota root", .cannot) }
        var quota = QuotaLimits.unlimited
        for limit in limits {
            switch limit.resource.uppercased() {
            case "STORAGE": quota.storageKiB = Int64(clamping: limit.limit)
            case "MESSAGE": quota.messages = Int64(clamping: limit.limit)
            default: return .no("Unsupported quota resource \(limit.resource)", .cannot)
            }
        }
        do {
            try await store.setQuota(name.internalName, limits: quota)
            if let updated = try await store.quotaRoot(name.internalName) { untagged(quotaLine(updated)) }
            return .ok("SETQUOTA completed")
        } catch {
            return Completion(error)
        }
    }
}
