import MailCore
import WireCore

extension IMAPCommandParser {
    /// ```
    /// search = "SEARCH" [search-return-opts] SP search-program
    /// search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"   ; RFC 4731
    /// search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE"                        ; RFC 5182
    /// search-program     = ["CHARSET" SP charset SP] search-key *(SP search-key)
    /// charset            = atom / quoted
    /// ```
    /// Several top-level keys become one `.and`.
    static func parseSearch(_ cursor: inout ParseCursor) throws(IMAPParseError) -> SearchCommand {
        try IMAPGrammar.parseSpace(&cursor)
        var returnOptions: [SearchReturnOption]?
        if IMAPGrammar.consumeKeyword(&cursor, "RETURN") {
            try IMAPGrammar.parseSpace(&cursor)
            guard cursor.consume(UInt8(ascii: "(")) else { throw .syntax("expected ( after SEARCH RETURN") }
            var options: [SearchReturnOption] = []
            if !cursor.consume(UInt8(ascii: ")")) {
                repeat {
                    let name = try IMAPGrammar.parseAtom(&cursor).uppercased()
                    guard let option = SearchReturnOption(rawValue: name) else {
                        throw .syntax("unknown SEARCH return option \(name)")
                    }
                    options.append(option)
                    guard options.count <= 16 else { throw .syntax("too many SEARCH return options") }
                } while cursor.consume(UInt8(ascii: " "))
                guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after SEARCH return options") }
            }
            returnOptions = options
            try IMAPGrammar.parseSpace(&cursor)
        }
        var charset: String?
        if IMAPGrammar.consumeKeyword(&cursor, "CHARSET") {
            try IMAPGrammar.parseSpace(&cursor)
            // charset = atom / quoted; a literal is taken too, as the writer may use one.
            if cursor.peek() == UInt8(ascii: "\"") || cursor.peek() == UInt8(ascii: "{") {
                charset = String(decoding: try IMAPGrammar.parseString(&cursor), as: UTF8.self)
            } else {
                charset = try IMAPGrammar.parseAtom(&cursor)
            }
            try IMAPGrammar.parseSpace(&cursor)
        }
        var keys: [SearchKey] = []
        repeat {
            keys.append(try parseSearchKey(&cursor, depth: 0))
            guard keys.count <= IMAPGrammar.maxListItems else { throw .syntax("too many search keys") }
        } while cursor.consume(UInt8(ascii: " "))
        return SearchCommand(
            returnOptions: returnOptions,
            charset: charset,
            key: keys.count == 1 ? keys[0] : .and(keys)
        )
    }

    /// ```
    /// search-key = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date / "BODY" SP astring
    ///            / "CC" SP astring / "DELETED" / "FLAGGED" / "FROM" SP astring
    ///            / "KEYWORD" SP flag-keyword / "NEW" / "OLD" / "ON" SP date / "RECENT" / "SEEN"
    ///            / "SINCE" SP date / "SUBJECT" SP astring / "TEXT" SP astring / "TO" SP astring
    ///            / "UNANSWERED" / "UNDELETED" / "UNFLAGGED" / "UNKEYWORD" SP flag-keyword / "UNSEEN"
    ///            / "DRAFT" / "HEADER" SP header-fld-name SP astring / "LARGER" SP number64
    ///            / "NOT" SP search-key / "OR" SP search-key SP search-key / "SENTBEFORE" SP date
    ///            / "SENTON" SP date / "SENTSINCE" SP date / "SMALLER" SP number64
    ///            / "UID" SP sequence-set / "UNDRAFT" / sequence-set / "(" search-key *(SP search-key) ")"
    ///            / "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer     ; RFC 7162
    ///            / "OLDER" SP nz-number / "YOUNGER" SP nz-number                        ; RFC 5032
    ///            / "EMAILID" SP objectid / "THREADID" SP objectid                       ; RFC 8474
    /// entry-type-req = "priv" / "shared" / "all"
    /// ```
    /// Nesting (parentheses, NOT, OR) is limited to ``IMAPGrammar/maxNestingDepth``.
    static func parseSearchKey(_ cursor: inout ParseCursor, depth: Int) throws(IMAPParseError) -> SearchKey {
        guard depth < IMAPGrammar.maxNestingDepth else {
            throw .syntax("search keys nested deeper than \(IMAPGrammar.maxNestingDepth)")
        }
        guard let first = cursor.peek() else { throw .syntax("expected a search key") }
        if first == UInt8(ascii: "(") {
            let keys = try IMAPGrammar.parseParenthesised(&cursor, what: "search keys") {
                (cursor) throws(IMAPParseError) -> SearchKey in
                try parseSearchKey(&cursor, depth: depth + 1)
            }
            return .and(keys)
        }
        if (first >= 48 && first <= 57) || first == UInt8(ascii: "*") {
            return .sequence(try IMAPGrammar.parseSequenceSet(&cursor))
        }
        if first == UInt8(ascii: "$") {
            let saved = cursor.position
            _ = cursor.consume(first)
            if let next = cursor.peek(), IMAPGrammar.isAtomChar(next) {
                cursor.reset(to: saved)
            } else {
                return .sequence(.lastResult)
            }
        }
        let name = try IMAPGrammar.parseAtom(&cursor).uppercased()
        switch name {
        case "ALL": return .all
        case "ANSWERED": return .answered
        case "DELETED": return .deleted
        case "DRAFT": return .draft
        case "FLAGGED": return .flagged
        case "SEEN": return .seen
        case "RECENT": return .recent
        case "NEW": return .new
        case "OLD": return .old
        case "UNANSWERED": return .unanswered
        case "UNDELETED": return .undeleted
        case "UNDRAFT": return .undraft
        case "UNFLAGGED": return .unflagged
        case "UNSEEN": return .unseen
        default:
            guard searchKeysWithArguments.contains(name) else { throw .syntax("unknown search key \(name)") }
        }
        try IMAPGrammar.parseSpace(&cursor)
        switch name {
        case "BCC": return .bcc(try IMAPGrammar.parseAString(&cursor))
        case "CC": return .cc(try IMAPGrammar.parseAString(&cursor))
        case "FROM": return .from(try IMAPGrammar.parseAString(&cursor))
        case "TO": return .to(try IMAPGrammar.parseAString(&cursor))
        case "SUBJECT": return .subject(try IMAPGrammar.parseAString(&cursor))
        case "BODY": return .body(try IMAPGrammar.parseAString(&cursor))
        case "TEXT": return .text(try IMAPGrammar.parseAString(&cursor))
        case "HEADER":
            let field = String(decoding: try IMAPGrammar.parseAString(&cursor), as: UTF8.self)
            try IMAPGrammar.parseSpace(&cursor)
            return .header(name: field, value: try IMAPGrammar.parseAString(&cursor))
        case "KEYWORD", "UNKEYWORD":
            let atom = try IMAPGrammar.parseAtom(&cursor)
            guard let flag = Flag(atom) else { throw .syntax("invalid keyword \(atom)") }
            return name == "KEYWORD" ? .keyword(flag) : .unkeyword(flag)
        case "BEFORE": return .before(try IMAPGrammar.parseDate(&cursor))
        case "ON": return .on(try IMAPGrammar.parseDate(&cursor))
        case "SINCE": return .since(try IMAPGrammar.parseDate(&cursor))
        case "SENTBEFORE": return .sentBefore(try IMAPGrammar.parseDate(&cursor))
        case "SENTON": return .sentOn(try IMAPGrammar.parseDate(&cursor))
        case "SENTSINCE": return .sentSince(try IMAPGrammar.parseDate(&cursor))
        case "LARGER": return .larger(try IMAPGrammar.parseNumber64(&cursor))
        case "SMALLER": return .smaller(try IMAPGrammar.parseNumber64(&cursor))
        case "UID": return .uid(try IMAPGrammar.parseSequenceSet(&cursor))
        case "NOT": return .not(try parseSearchKey(&cursor, depth: depth + 1))
        case "OR":
            let left = try parseSearchKey(&cursor, depth: depth + 1)
            try IMAPGrammar.parseSpace(&cursor)
            return .or(left, try parseSearchKey(&cursor, depth: depth + 1))
        case "MODSEQ":
            // charset = atom / quoted; a literal is taken too, as the writer may use one.
            if cursor.peek() == UInt8(ascii: "\"") || cursor.peek() == UInt8(ascii: "{") {
                // entry-name = entry-flag-name = DQUOTE "/flags/" attr-flag DQUOTE; ignored by the search.
                let entry = try IMAPGrammar.parseString(&cursor)
                guard entry.starts(with: Array("/flags/".utf8)) else { throw .syntax("MODSEQ entry must be /flags/…") }
                try IMAPGrammar.parseSpace(&cursor)
                let type = try IMAPGrammar.parseAtom(&cursor).lowercased()
                guard ["priv", "shared", "all"].contains(type) else { throw .syntax("MODSEQ entry type \(type)") }
                try IMAPGrammar.parseSpace(&cursor)
            }
            return .modSeq(try IMAPGrammar.parseNumber64(&cursor))
        case "OLDER": return .older(try IMAPGrammar.parseNumber(&cursor, nonZero: true))
        case "YOUNGER": return .younger(try IMAPGrammar.parseNumber(&cursor, nonZero: true))
        case "EMAILID", "THREADID":
            // objectid = 1*255(ALPHA / DIGIT / "_" / "-")
            let id = cursor.consume(while: {
                IMAPGrammar.isAlpha($0) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
            })
            guard (1...255).contains(id.count) else { throw .syntax("\(name) needs an object id") }
            let text = String(decoding: id, as: UTF8.self)
            return name == "EMAILID" ? .emailID(text) : .threadID(text)
        default:
            throw .syntax("unknown search key \(name)")
        }
    }

    /// The search keys followed by `SP` and an argument (the others stand alone).
    static let searchKeysWithArguments: Set<String> = [
        "BCC", "CC", "FROM", "TO", "SUBJECT", "BODY", "TEXT", "HEADER", "KEYWORD", "UNKEYWORD", "BEFORE", "ON",
        "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE", "LARGER", "SMALLER", "UID", "NOT", "OR", "MODSEQ", "OLDER",
        "YOUNGER", "EMAILID", "THREADID",
    ]
}
