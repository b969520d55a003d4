import NIOCore
import WireCore

extension IMAPCommandParser {
    /// ```
    /// append         = "APPEND" SP mailbox 1*append-message      ; RFC 3502 MULTIAPPEND
    /// append-message = append-opts SP append-data
    /// append-opts    = [SP flag-list] [SP date-time]
    /// append-data    = literal / literal8                        ; literal8: RFC 3516
    /// ```
    /// The frame form, with every message inline (a client's own encoding, or a test). A server
    /// streams the messages instead: see ``parseAppendStart(_:)``.
    static func parseAppend(_ cursor: inout ParseCursor) throws(IMAPParseError) -> IMAPCommand {
        try IMAPGrammar.parseSpace(&cursor)
        let mailbox = try IMAPGrammar.parseMailbox(&cursor)
        var messages: [AppendMessage] = []
        repeat {
            var message = try parseAppendOptions(&cursor)
            let next = cursor.remaining.prefix(2)
            guard next.first == UInt8(ascii: "{") || next.elementsEqual("~{".utf8) else {
                throw .syntax("APPEND needs the message as a literal")
            }
            message.bytes = ByteBuffer(bytes: try IMAPGrammar.parseString(&cursor))
            messages.append(message)
            guard messages.count <= IMAPGrammar.maxListItems else { throw .syntax("too many APPEND messages") }
        } while !cursor.isAtEnd
        return .append(mailbox, messages)
    }

    /// `[SP flag-list] [SP date-time] SP` — the arguments of one message up to its literal.
    private static func parseAppendOptions(_ cursor: inout ParseCursor) throws(IMAPParseError) -> AppendMessage {
        var message = AppendMessage()
        if cursor.remaining.starts(with: Array(" (".utf8)) {
            _ = cursor.consume(UInt8(ascii: " "))
            message.flags = try IMAPGrammar.parseFlags(&cursor)
        }
        if cursor.remaining.starts(with: Array(" \"".utf8)) {
            _ = cursor.consume(UInt8(ascii: " "))
            message.internalDate = try IMAPGrammar.parseDateTime(&cursor)
        }
        guard cursor.consume(UInt8(ascii: " ")) else {
            throw .syntax("expected a flag list, a date-time or the message literal")
        }
        return message
    }

    /// Parses the text before an APPEND command's first message literal, as
    /// ``IMAPFrameDecoder/Event/appendMessageBegin(prefix:size:synchronizing:)`` gives it:
    /// `tag SP "APPEND" SP mailbox append-opts SP` (RFC 3502). `bytes` is left empty: the
    /// message follows as `.appendMessageBytes` events.
    ///
    /// ```
    /// C: a1 APPEND Drafts (\Seen) {310}
    ///        → .appendMessageBegin(prefix: "a1 APPEND Drafts (\Seen) ", size: 310, synchronizing: true)
    /// ```
    public static func parseAppendStart(
        _ prefix: ByteBuffer
    ) throws(IMAPParseError) -> (tag: String, mailbox: MailboxArgument, AppendMessage) {
        var cursor = ParseCursor(Array(prefix.readableBytesView))
        let tag = try IMAPGrammar.parseTag(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        guard IMAPGrammar.consumeKeyword(&cursor, "APPEND") else { throw .syntax("not an APPEND command") }
        try IMAPGrammar.parseSpace(&cursor)
        let mailbox = try IMAPGrammar.parseMailbox(&cursor)
        let message = try parseAppendOptions(&cursor)
        guard cursor.isAtEnd else { throw .syntax("unexpected text before the APPEND message") }
        return (tag, mailbox, message)
    }

    /// Parses the text between one APPEND message literal and the next (RFC 3502 MULTIAPPEND):
    /// `append-opts SP`, e.g. ` (\Seen) "17-Jul-1996 02:44:25 -0700" ` or just ` `.
    public static func parseAppendNext(_ prefix: ByteBuffer) throws(IMAPParseError) -> AppendMessage {
        var cursor = ParseCursor(Array(prefix.readableBytesView))
        let message = try parseAppendOptions(&cursor)
        guard cursor.isAtEnd else { throw .syntax("unexpected text before the APPEND message") }
        return message
    }
}
