import WireCore

extension IMAPCommandParser {
    /// ```
    /// getacl     = "GETACL" SP mailbox                                   ; RFC 4314 §4
    /// setacl     = "SETACL" SP mailbox SP identifier SP mod-rights
    /// deleteacl  = "DELETEACL" SP mailbox SP identifier
    /// listrights = "LISTRIGHTS" SP mailbox SP identifier
    /// myrights   = "MYRIGHTS" SP mailbox
    /// identifier = astring
    /// mod-rights = astring       ; +rights, -rights or rights
    /// ```
    static func parseACL(_ verb: String, _ cursor: inout ParseCursor) throws(IMAPParseError) -> IMAPCommand {
        try IMAPGrammar.parseSpace(&cursor)
        let mailbox = try IMAPGrammar.parseMailbox(&cursor)
        switch verb {
        case "GETACL": return .getACL(mailbox)
        case "MYRIGHTS": return .myRights(mailbox)
        default: break
        }
        try IMAPGrammar.parseSpace(&cursor)
        let identifier = try IMAPGrammar.parseAString(&cursor)
        switch verb {
        case "DELETEACL": return .deleteACL(mailbox, identifier: identifier)
        case "LISTRIGHTS": return .listRights(mailbox, identifier: identifier)
        default:
            try IMAPGrammar.parseSpace(&cursor)
            return .setACL(mailbox, identifier: identifier, rights: try IMAPGrammar.parseAString(&cursor))
        }
    }

    /// ```
    /// getquota      = "GETQUOTA" SP quota-root-name                      ; RFC 9208 §7
    /// getquotaroot  = "GETQUOTAROOT" SP mailbox
    /// setquota      = "SETQUOTA" SP quota-root-name SP setquota-list
    /// setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
    /// setquota-resource = resource-name SP resource-limit
    /// resource-name = "STORAGE" / "MESSAGE" / "MAILBOX" / "ANNOTATION-STORAGE" / resource-name-ext
    /// resource-limit = number64
    /// quota-root-name = astring
    /// ```
    static func parseQuota(_ verb: String, _ cursor: inout ParseCursor) throws(IMAPParseError) -> IMAPCommand {
        try IMAPGrammar.parseSpace(&cursor)
        if verb == "GETQUOTAROOT" { return .getQuotaRoot(try IMAPGrammar.parseMailbox(&cursor)) }
        let root = try IMAPGrammar.parseAString(&cursor)
        if verb == "GETQUOTA" { return .getQuota(root: root) }
        try IMAPGrammar.parseSpace(&cursor)
        guard cursor.consume(UInt8(ascii: "(")) else { throw .syntax("SETQUOTA needs a parenthesised list") }
        var limits: [QuotaLimit] = []
        if !cursor.consume(UInt8(ascii: ")")) {
            repeat {
                let resource = try IMAPGrammar.parseAtom(&cursor).uppercased()
                try IMAPGrammar.parseSpace(&cursor)
                limits.append(QuotaLimit(resource: resource, limit: try IMAPGrammar.parseNumber64(&cursor)))
                guard limits.count <= 64 else { throw .syntax("too many SETQUOTA resources") }
            } while cursor.consume(UInt8(ascii: " "))
            guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after SETQUOTA resources") }
        }
        return .setQuota(root: root, limits: limits)
    }

    /// ```
    /// getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries   ; RFC 5464 §5
    /// getmetadata-options = "(" getmetadata-option *(SP getmetadata-option) ")"
    /// getmetadata-option  = "MAXSIZE" SP number / "DEPTH" SP ("0" / "1" / "infinity")
    /// entries = entry / "(" entry *(SP entry) ")"
    /// entry   = astring
    /// ```
    /// The options are also accepted after the mailbox, as RFC 5464 §4.2's examples write them.
    static func parseGetMetadata(_ cursor: inout ParseCursor) throws(IMAPParseError) -> IMAPCommand {
        try IMAPGrammar.parseSpace(&cursor)
        var options = MetadataOptions()
        var sawOptions = false
        // A mailbox never starts with "(", so a list here is the options.
        if cursor.peek() == UInt8(ascii: "(") {
            options = try parseMetadataOptions(&cursor)
            sawOptions = true
            try IMAPGrammar.parseSpace(&cursor)
        }
        let mailbox = try IMAPGrammar.parseMailbox(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        if !sawOptions && startsMetadataOptions(cursor) {
            options = try parseMetadataOptions(&cursor)
            try IMAPGrammar.parseSpace(&cursor)
        }
        let entries: [String]
        if cursor.peek() == UInt8(ascii: "(") {
            entries = try IMAPGrammar.parseParenthesised(&cursor, what: "metadata entries", parseEntry)
        } else {
            entries = [try parseEntry(&cursor)]
        }
        return .getMetadata(mailbox, options: options, entries: entries)
    }

    private static func startsMetadataOptions(_ cursor: ParseCursor) -> Bool {
        var probe = cursor
        guard probe.consume(UInt8(ascii: "(")) else { return false }
        return IMAPGrammar.consumeKeyword(&probe, "MAXSIZE") || IMAPGrammar.consumeKeyword(&probe, "DEPTH")
    }

    private static func parseMetadataOptions(_ cursor: inout ParseCursor) throws(IMAPParseError) -> MetadataOptions {
        var options = MetadataOptions()
        _ = try IMAPGrammar.parseParenthesised(&cursor, what: "GETMETADATA options") {
            (cursor) throws(IMAPParseError) -> Void in
            let name = try IMAPGrammar.parseAtom(&cursor).uppercased()
            try IMAPGrammar.parseSpace(&cursor)
            switch name {
            case "MAXSIZE":
                options.maxSize = try IMAPGrammar.parseNumber(&cursor)
            case "DEPTH":
                let depth = try IMAPGrammar.parseAtom(&cursor).lowercased()
                switch depth {
                case "0": options.depth = .zero
                case "1": options.depth = .one
                case "infinity": options.depth = .infinity
                default: throw .syntax("DEPTH must be 0, 1 or infinity")
                }
            default:
                throw .syntax("unknown GETMETADATA option \(name)")
            }
        }
        return options
    }

    /// `entry = astring` — a slash-separated path such as `/private/comment` (RFC 5464 §3.2).
    private static func parseEntry(_ cursor: inout ParseCursor) throws(IMAPParseError) -> String {
        let entry = try IMAPGrammar.parseAString(&cursor)
        guard entry.first == UInt8(ascii: "/") else { throw .syntax("metadata entries start with /") }
        return String(decoding: entry, as: UTF8.self)
    }

    /// ```
    /// setmetadata  = "SETMETADATA" SP mailbox SP entry-values       ; RFC 5464 §5
    /// entry-values = "(" entry-value *(SP entry-value) ")"
    /// entry-value  = entry SP value
    /// value        = nstring / literal8
    /// ```
    static func parseSetMetadata(_ cursor: inout ParseCursor) throws(IMAPParseError) -> IMAPCommand {
        try IMAPGrammar.parseSpace(&cursor)
        let mailbox = try IMAPGrammar.parseMailbox(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        let entries = try IMAPGrammar.parseParenthesised(&cursor, what: "metadata entries") {
            (cursor) throws(IMAPParseError) -> MetadataEntry in
            let name = try parseEntry(&cursor)
            try IMAPGrammar.parseSpace(&cursor)
            return MetadataEntry(name: name, value: try IMAPGrammar.parseNString(&cursor))
        }
        return .setMetadata(mailbox, entries: entries)
    }
}
