/// A part of a message as IMAP's `section` names it (RFC 9051 §6.4.5, `BODY[section]`).
///
/// `part` is the dotted part path (`[]` for the whole message, `[1, 2]` for `1.2`); `text`
/// selects the header, some header fields, the body text or the MIME header of that part; nil
/// means the whole part (or the whole message when `part` is empty).
public struct MessageSection: Hashable, Sendable {
    public enum Text: Hashable, Sendable {
        case header
        case headerFields([String])
        case headerFieldsNot([String])
        case text
        case mime
    }

    public var part: [Int]
    public var text: Text?

    public init(part: [Int] = [], text: Text? = nil) {
        self.part = part
        self.text = text
    }

    /// The whole message (`BODY[]`).
    public static let whole = MessageSection()
}
