import MailCore
import NIOCore
import WireCore

/// Parses one complete command frame (from ``IMAPFrameDecoder``) into a ``TaggedCommand``.
public enum IMAPCommandParser {
    /// ```
    /// command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
    /// ```
    /// The frame excludes the final CRLF. On failure the error says why, and ``tag(of:)`` gives
    /// the tag (if any) for the `BAD` reply.
    public static func parse(_ frame: ByteBuffer) throws(IMAPParseError) -> TaggedCommand {
        var cursor = ParseCursor(Array(frame.readableBytesView))
        let tag = try IMAPGrammar.parseTag(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        let verb = String(decoding: cursor.consume(while: { IMAPGrammar.isAtomChar($0) }), as: UTF8.self).uppercased()
        let command = try parseCommand(verb, &cursor)
        guard cursor.isAtEnd else { throw .syntax("unexpected text after \(command.name) arguments") }
        return TaggedCommand(tag: tag, command: command)
    }

    /// The tag of a frame that failed to parse, when it has a valid one (for `tag BAD ...`).
    public static func tag(of frame: ByteBuffer) -> String? {
        var cursor = ParseCursor(Array(frame.readableBytesView.prefix(128)))
        guard let tag = try? IMAPGrammar.parseTag(&cursor), cursor.consume(UInt8(ascii: " ")) else { return nil }
        return tag
    }

    static func parseCommand(_ verb: String, _ cursor: inout ParseCursor) throws(IMAPParseError) -> IMAPCommand {
        switch verb {
        case "CAPABILITY": return .capability
        case "NOOP": return .noop
        case "LOGOUT": return .logout
        case "STARTTLS": return .startTLS
        case "NAMESPACE": return .namespace
        case "IDLE": return .idle
        case "CHECK": return .check
        case "CLOSE": return .close
        case "UNSELECT": return .unselect
        case "EXPUNGE": return .expunge
        case "LOGIN":
            // login = "LOGIN" SP userid SP password ; both astrings
            try IMAPGrammar.parseSpace(&cursor)
            let user = try IMAPGrammar.parseAString(&cursor)
            try IMAPGrammar.parseSpace(&cursor)
            return .login(user: user, password: try IMAPGrammar.parseAString(&cursor))
        case "AUTHENTICATE":
            // authenticate = "AUTHENTICATE" SP auth-type [SP initial-resp]   ; RFC 4959 SASL-IR
            // initial-resp = base64 / "="
            try IMAPGrammar.parseSpace(&cursor)
            let mechanism = try IMAPGrammar.parseAtom(&cursor).uppercased()
            guard cursor.consume(UInt8(ascii: " ")) else {
                return .authenticate(mechanism: mechanism, initialResponse: nil)
            }
            let text = cursor.consume(while: { $0 != UInt8(ascii: " ") })
            if text.elementsEqual("=".utf8) { return .authenticate(mechanism: mechanism, initialResponse: []) }
            guard let decoded = Base64.decode(text) else { throw .syntax("initial response is not base64") }
            return .authenticate(mechanism: mechanism, initialResponse: decoded)
        case "ENABLE":
            // enable = "ENABLE" 1*(SP capability)
            var capabilities: [String] = []
            while cursor.consume(UInt8(ascii: " ")) {
                capabilities.append(try IMAPGrammar.parseAtom(&cursor).uppercased())
                guard capabilities.count <= IMAPGrammar.maxListItems else { throw .syntax("too many capabilities") }
            }
            guard !capabilities.isEmpty else { throw .syntax("ENABLE needs at least one capability") }
            return .enable(capabilities)
        case "SELECT", "EXAMINE":
            // select = "SELECT" SP mailbox [select-params]   ; RFC 4466, RFC 7162
            try IMAPGrammar.parseSpace(&cursor)
            let mailbox = try IMAPGrammar.parseMailbox(&cursor)
            let parameters = try parseSelectParameters(&cursor)
            return verb == "SELECT" ? .select(mailbox, parameters) : .examine(mailbox, parameters)
        case "CREATE":
            // create = "CREATE" SP mailbox [create-params]   ; RFC 4466, RFC 6154
            try IMAPGrammar.parseSpace(&cursor)
            let mailbox = try IMAPGrammar.parseMailbox(&cursor)
            return .create(mailbox, specialUse: try parseCreateParameters(&cursor))
        case "DELETE", "SUBSCRIBE", "UNSUBSCRIBE":
            // delete = "DELETE" SP mailbox ; likewise the others
            try IMAPGrammar.parseSpace(&cursor)
            let mailbox = try IMAPGrammar.parseMailbox(&cursor)
            switch verb {
            case "DELETE": return .delete(mailbox)
            case "SUBSCRIBE": return .subscribe(mailbox)
            default: return .unsubscribe(mailbox)
            }
        case "RENAME":
            // rename = "RENAME" SP mailbox SP mailbox
            try IMAPGrammar.parseSpace(&cursor)
            let from = try IMAPGrammar.parseMailbox(&cursor)
            try IMAPGrammar.parseSpace(&cursor)
            return .rename(from: from, to: try IMAPGrammar.parseMailbox(&cursor))
        case "STATUS":
            // status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
            try IMAPGrammar.parseSpace(&cursor)
            let mailbox = try IMAPGrammar.parseMailbox(&cursor)
            try IMAPGrammar.parseSpace(&cursor)
            guard cursor.consume(UInt8(ascii: "(")) else { throw .syntax("STATUS needs a parenthesised item list") }
            var items: [String] = []
            repeat {
                let item = try IMAPGrammar.parseAtom(&cursor).uppercased()
                guard StatusItem.known.contains(item) else { throw .syntax("unknown STATUS item \(item)") }
                items.append(item)
            } while cursor.consume(UInt8(ascii: " "))
            guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after STATUS items") }
            return .status(mailbox, items: items)
        case "ID":
            // id = "ID" SP id-params-list ; id-params-list = "(" *(string SP nstring) ")" / nil   (RFC 2971)
            try IMAPGrammar.parseSpace(&cursor)
            if cursor.consume(caseInsensitive: "NIL") { return .id(nil) }
            guard cursor.consume(UInt8(ascii: "(")) else { throw .syntax("ID needs a list or NIL") }
            var pairs: [(key: [UInt8], value: [UInt8]?)] = []
            if !cursor.consume(UInt8(ascii: ")")) {
                repeat {
                    let key = try IMAPGrammar.parseString(&cursor)
                    try IMAPGrammar.parseSpace(&cursor)
                    pairs.append((key, try IMAPGrammar.parseNString(&cursor)))
                    // RFC 2971 §3.3: at most 30 field-value pairs.
                    guard pairs.count <= 30 else { throw .syntax("ID allows at most 30 pairs") }
                } while cursor.consume(UInt8(ascii: " "))
                guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after ID parameters") }
            }
            return .id(pairs)
        case "LIST": return .list(try parseList(&cursor))
        case "LSUB": return try parseLSub(&cursor)
        case "APPEND": return try parseAppend(&cursor)
        case "FETCH": return try parseFetch(&cursor, uid: false)
        case "STORE": return try parseStore(&cursor, uid: false)
        case "SEARCH": return .search(try parseSearch(&cursor), uid: false)
        case "COPY", "MOVE": return try parseCopyOrMove(verb, &cursor, uid: false)
        case "COMPRESS":
            // compress = "COMPRESS" SP algorithm   ; RFC 4978, algorithm = atom
            try IMAPGrammar.parseSpace(&cursor)
            return .compress(try IMAPGrammar.parseAtom(&cursor).uppercased())
        case "GETACL", "SETACL", "DELETEACL", "LISTRIGHTS", "MYRIGHTS": return try parseACL(verb, &cursor)
        case "GETQUOTA", "GETQUOTAROOT", "SETQUOTA": return try parseQuota(verb, &cursor)
        case "GETMETADATA": return try parseGetMetadata(&cursor)
        case "SETMETADATA": return try parseSetMetadata(&cursor)
        case "UID":
            // uid = "UID" SP ("COPY" / "MOVE" / "FETCH" / "SEARCH" / "STORE" / "EXPUNGE") SP …
            try IMAPGrammar.parseSpace(&cursor)
            let sub = try IMAPGrammar.parseAtom(&cursor).uppercased()
            switch sub {
            case "FETCH": return try parseFetch(&cursor, uid: true)
            case "STORE": return try parseStore(&cursor, uid: true)
            case "SEARCH": return .search(try parseSearch(&cursor), uid: true)
            case "COPY", "MOVE": return try parseCopyOrMove(sub, &cursor, uid: true)
            case "EXPUNGE":
                // uid-expunge = "UID" SP "EXPUNGE" SP sequence-set   (RFC 4315)
                try IMAPGrammar.parseSpace(&cursor)
                return .uidExpunge(try IMAPGrammar.parseSequenceSet(&cursor))
            default: throw .unknownCommand("UID \(sub)")
            }
        case "":
            throw .syntax("missing command")
        default:
            throw .unknownCommand(verb)
        }
    }

    /// ```
    /// copy = "COPY" SP sequence-set SP mailbox
    /// move = "MOVE" SP sequence-set SP mailbox   ; RFC 6851
    /// ```
    static func parseCopyOrMove(
        _ verb: String,
        _ cursor: inout ParseCursor,
        uid: Bool
    ) throws(IMAPParseError) -> IMAPCommand {
        try IMAPGrammar.parseSpace(&cursor)
        let set = try IMAPGrammar.parseSequenceSet(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        let mailbox = try IMAPGrammar.parseMailbox(&cursor)
        return verb == "COPY" ? .copy(set, mailbox, uid: uid) : .move(set, mailbox, uid: uid)
    }
}
