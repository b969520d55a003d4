import LMTPCodec
import MailCore
import MailStore

/// Maps an RCPT address to the mailbox that receives the copy, as Cyrus's lmtpd does.
///
/// `user+detail@domain` goes to `user.NAME.detail` when that mailbox exists and grants the
/// post right (`p`) to `anyone`; otherwise to the user's INBOX. The domain is ignored
/// (virtual domains are not enabled). An unknown user gets `550 5.1.1`; a user already at or
/// over quota (or who would be, given MAIL FROM's SIZE) gets `552 5.2.2`.
public struct RecipientResolver: Sendable {
    let store: any MailStore
    let downcase: Bool

    public init(store: any MailStore, downcase: Bool) {
        self.store = store
        self.downcase = downcase
    }

    public func resolve(_ path: MailPath, declaredSize: Int?) async -> LMTPSession.Resolution {
        let local = downcase ? path.localPart.lowercased() : path.localPart
        let userPart: Substring
        let detail: Substring?
        if let plus = local.firstIndex(of: "+") {
            userPart = local[..<plus]
            detail = local[local.index(after: plus)...]
        } else {
            userPart = Substring(local)
            detail = nil
        }
        guard let user = try? UserName(String(userPart)) else { return .rejected(.unknownUser) }
        let inbox = MailboxName.inbox(of: user)
        do {
            guard var (target, quota) = try await store.mailboxWithQuota(inbox) else { return .rejected(.unknownUser) }
            if let detail, !detail.isEmpty,
                let name = try? inbox.child(String(detail).replacing("/", with: ".")),
                let (detailBox, detailQuota) = try await store.mailboxWithQuota(name),
                detailBox.acl.rights(for: "anyone")?.contains("p") == true
            {
                (target, quota) = (detailBox, detailQuota)
            }
            if let quota, quota.wouldExceed(addingBytes: Int64(declaredSize ?? 0), messages: 1) {
                return .rejected(.overQuota)
            }
            return .accepted(target.name)
        } catch {
            return .rejected(LMTPReply(for: error))
        }
    }
}
