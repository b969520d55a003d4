/// A mailbox name as a client sent it (RFC 9051 `mailbox`): bytes in the client's namespace,
/// with `INBOX` in any case normalised to `INBOX`. Mapping to internal names is the server's job.
public struct MailboxArgument: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = String(decoding: bytes, as: UTF8.self).uppercased() == "INBOX" ? Array("INBOX".utf8) : bytes
    }

    public init(_ text: String) { self.init(Array(text.utf8)) }

    public var isInbox: Bool { bytes == Array("INBOX".utf8) }
    public var description: String { String(decoding: bytes, as: UTF8.self) }
}
