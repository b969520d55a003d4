import MailMessage

/// One item of a FETCH request (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ, RFC 8474).
/// The macros ALL, FAST and FULL are expanded by the parser.
public enum FetchAttribute: Hashable, Sendable {
    case envelope
    case flags
    case internalDate
    /// `RFC822.SIZE`
    case rfc822Size
    /// `RFC822` (like `BODY[]`, sets \Seen)
    case rfc822
    /// `RFC822.HEADER` (like `BODY.PEEK[HEADER]`)
    case rfc822Header
    /// `RFC822.TEXT` (like `BODY[TEXT]`, sets \Seen)
    case rfc822Text
    /// `BODY` without a section: BODYSTRUCTURE without extension data.
    case bodyStructureNonExtensible
    case bodyStructure
    case uid
    case modSeq
    /// `EMAILID` (RFC 8474)
    case emailID
    /// `THREADID` (RFC 8474)
    case threadID
    /// `SAVEDATE` (RFC 8514)
    case saveDate
    /// `BODY[section]<partial>` or `BODY.PEEK[…]`
    case bodySection(MessageSection, peek: Bool, partial: FetchPartial?)
    /// `BINARY[part]<partial>` or `BINARY.PEEK[…]` (RFC 3516)
    case binary(part: [Int], peek: Bool, partial: FetchPartial?)
    /// `BINARY.SIZE[part]`
    case binarySize(part: [Int])
}

/// `<offset.length>` of a partial fetch.
public struct FetchPartial: Hashable, Sendable {
    public var offset: UInt32
    public var length: UInt32

    public init(offset: UInt32, length: UInt32) {
        self.offset = offset
        self.length = length
    }
}

/// FETCH modifiers (RFC 7162 §3.1.4.1, §3.2.6).
public struct FetchModifiers: Hashable, Sendable {
    public var changedSince: UInt64?
    public var vanished: Bool

    public init(changedSince: UInt64? = nil, vanished: Bool = false) {
        self.changedSince = changedSince
        self.vanished = vanished
    }
}
