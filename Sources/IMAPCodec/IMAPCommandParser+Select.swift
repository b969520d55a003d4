import WireCore

extension IMAPCommandParser {
    /// ```
    /// select-params = SP "(" select-param *(SP select-param) ")"      ; RFC 4466
    /// select-param  = "CONDSTORE"                                        ; RFC 7162 §3.1.8
    ///               / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value [SP known-uids]
    ///                 [SP seq-match-data] ")"                            ; RFC 7162 §3.2.5
    /// seq-match-data = "(" known-sequence-set SP known-uid-set ")"
    /// ```
    /// Returns the default parameters when the command has none.
    static func parseSelectParameters(_ cursor: inout ParseCursor) throws(IMAPParseError) -> SelectParameters {
        var parameters = SelectParameters()
        guard cursor.consume(UInt8(ascii: " ")) else { return parameters }
        _ = try IMAPGrammar.parseParenthesised(&cursor, what: "SELECT parameters") {
            (cursor) throws(IMAPParseError) -> Void in
            let name = try IMAPGrammar.parseAtom(&cursor).uppercased()
            switch name {
            case "CONDSTORE":
                parameters.condStore = true
            case "QRESYNC":
                guard parameters.qresync == nil else { throw .syntax("QRESYNC given twice") }
                try IMAPGrammar.parseSpace(&cursor)
                parameters.qresync = try parseQResync(&cursor)
            default:
                throw .syntax("unknown SELECT parameter \(name)")
            }
        }
        return parameters
    }

    private static func parseQResync(_ cursor: inout ParseCursor) throws(IMAPParseError) -> SelectParameters.QResync {
        guard cursor.consume(UInt8(ascii: "(")) else { throw .syntax("QRESYNC needs a parenthesised list") }
        let uidValidity = try IMAPGrammar.parseNumber(&cursor, nonZero: true)
        try IMAPGrammar.parseSpace(&cursor)
        var qresync = SelectParameters.QResync(uidValidity: uidValidity, modSeq: try IMAPGrammar.parseNumber64(&cursor))
        if cursor.consume(UInt8(ascii: " ")) {
            if cursor.consume(UInt8(ascii: "(")) {
                qresync.sequenceMatch = try parseSequenceMatch(&cursor)
            } else {
                qresync.knownUIDs = try IMAPGrammar.parseSequenceSet(&cursor)
                if cursor.consume(UInt8(ascii: " ")) {
                    guard cursor.consume(UInt8(ascii: "(")) else {
                        throw .syntax("expected ( before QRESYNC seq-match-data")
                    }
                    qresync.sequenceMatch = try parseSequenceMatch(&cursor)
                }
            }
        }
        guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after QRESYNC parameters") }
        return qresync
    }

    /// `seq-match-data` after its `(`.
    private static func parseSequenceMatch(
        _ cursor: inout ParseCursor
    ) throws(IMAPParseError) -> (sequences: SequenceSet, uids: SequenceSet) {
        let sequences = try IMAPGrammar.parseSequenceSet(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        let uids = try IMAPGrammar.parseSequenceSet(&cursor)
        guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after QRESYNC seq-match-data") }
        return (sequences, uids)
    }

    /// ```
    /// create-params = SP "(" create-param *(SP create-param) ")"      ; RFC 4466
    /// create-param  = "USE" SP "(" [use-attr *(SP use-attr)] ")"       ; RFC 6154 §6
    /// use-attr      = "\All" / "\Archive" / "\Drafts" / "\Flagged" / "\Junk" / "\Sent" / "\Trash"
    ///               / use-attr-ext
    /// use-attr-ext  = "\" atom
    /// ```
    /// Known attributes are returned in the RFC's spelling.
    static func parseCreateParameters(_ cursor: inout ParseCursor) throws(IMAPParseError) -> [String] {
        var uses: [String] = []
        guard cursor.consume(UInt8(ascii: " ")) else { return uses }
        _ = try IMAPGrammar.parseParenthesised(&cursor, what: "CREATE parameters") {
            (cursor) throws(IMAPParseError) -> Void in
            let name = try IMAPGrammar.parseAtom(&cursor).uppercased()
            guard name == "USE" else { throw .syntax("unknown CREATE parameter \(name)") }
            try IMAPGrammar.parseSpace(&cursor)
            uses += try IMAPGrammar.parseParenthesised(&cursor, what: "special-use attributes") {
                (cursor) throws(IMAPParseError) -> String in
                guard cursor.consume(UInt8(ascii: "\\")) else { throw .syntax("special-use attributes start with \\") }
                let atom = try IMAPGrammar.parseAtom(&cursor)
                return specialUses.first { $0.lowercased() == "\\" + atom.lowercased() } ?? "\\" + atom
            }
        }
        return uses
    }

    /// The `use-attr` values RFC 6154 §2 defines, in its spelling.
    static let specialUses = ["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"]
}
