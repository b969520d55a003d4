import WireCore

extension IMAPCommandParser {
    /// ```
    /// list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat [SP list-return-opts]   ; RFC 5258
    /// list-select-opts = "(" [list-select-opt *(SP list-select-opt)] ")"
    /// list-select-opt  = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"      ; RFC 6154
    /// mbox-or-pat      = list-mailbox / patterns
    /// patterns         = "(" list-mailbox *(SP list-mailbox) ")"
    /// list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
    /// return-option    = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" / "MYRIGHTS"         ; RFC 8440
    ///                  / "STATUS" SP "(" status-att *(SP status-att) ")"                  ; RFC 5819
    /// ```
    /// RECURSIVEMATCH alone is refused (RFC 5258 §3: it needs a base option such as SUBSCRIBED).
    static func parseList(_ cursor: inout ParseCursor) throws(IMAPParseError) -> ListCommand {
        try IMAPGrammar.parseSpace(&cursor)
        var selectOptions: [ListCommand.SelectOption] = []
        if cursor.consume(UInt8(ascii: "(")) {
            if !cursor.consume(UInt8(ascii: ")")) {
                repeat {
                    let name = try IMAPGrammar.parseAtom(&cursor).uppercased()
                    guard let option = ListCommand.SelectOption(rawValue: name) else {
                        throw .syntax("unknown LIST selection option \(name)")
                    }
                    selectOptions.append(option)
                    guard selectOptions.count <= 16 else { throw .syntax("too many LIST selection options") }
                } while cursor.consume(UInt8(ascii: " "))
                guard cursor.consume(UInt8(ascii: ")")) else {
                    throw .syntax("expected ) after LIST selection options")
                }
            }
            if selectOptions.contains(.recursiveMatch) && !selectOptions.contains(.subscribed) {
                throw .syntax("RECURSIVEMATCH needs another selection option")
            }
            try IMAPGrammar.parseSpace(&cursor)
        }
        let reference = try IMAPGrammar.parseAString(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        let patterns: [[UInt8]]
        if cursor.peek() == UInt8(ascii: "(") {
            patterns = try IMAPGrammar.parseParenthesised(&cursor, what: "LIST patterns", parseListMailbox)
        } else {
            patterns = [try parseListMailbox(&cursor)]
        }
        var returnOptions: [ListCommand.ReturnOption]?
        if cursor.consume(UInt8(ascii: " ")) {
            guard IMAPGrammar.consumeKeyword(&cursor, "RETURN") else { throw .syntax("expected RETURN after LIST") }
            try IMAPGrammar.parseSpace(&cursor)
            returnOptions = try parseListReturnOptions(&cursor)
        }
        return ListCommand(
            reference: reference,
            patterns: patterns,
            selectOptions: selectOptions,
            returnOptions: returnOptions
        )
    }

    private static func parseListReturnOptions(
        _ cursor: inout ParseCursor
    ) throws(IMAPParseError) -> [ListCommand.ReturnOption] {
        guard cursor.consume(UInt8(ascii: "(")) else { throw .syntax("expected ( after RETURN") }
        var options: [ListCommand.ReturnOption] = []
        if cursor.consume(UInt8(ascii: ")")) { return options }
        repeat {
            let name = try IMAPGrammar.parseAtom(&cursor).uppercased()
            switch name {
            case "SUBSCRIBED": options.append(.subscribed)
            case "CHILDREN": options.append(.children)
            case "SPECIAL-USE": options.append(.specialUse)
            case "MYRIGHTS": options.append(.myRights)
            case "STATUS":
                try IMAPGrammar.parseSpace(&cursor)
                let items = try IMAPGrammar.parseParenthesised(&cursor, what: "STATUS items") {
                    (cursor) throws(IMAPParseError) -> String in
                    let item = try IMAPGrammar.parseAtom(&cursor).uppercased()
                    guard StatusItem.known.contains(item) else { throw .syntax("unknown STATUS item \(item)") }
                    return item
                }
                options.append(.status(items))
            default:
                throw .syntax("unknown LIST return option \(name)")
            }
            guard options.count <= 16 else { throw .syntax("too many LIST return options") }
        } while cursor.consume(UInt8(ascii: " "))
        guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after LIST return options") }
        return options
    }

    /// ```
    /// lsub = "LSUB" SP mailbox SP list-mailbox   ; RFC 3501
    /// ```
    static func parseLSub(_ cursor: inout ParseCursor) throws(IMAPParseError) -> IMAPCommand {
        try IMAPGrammar.parseSpace(&cursor)
        let reference = try IMAPGrammar.parseAString(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        return .lsub(reference: reference, pattern: try parseListMailbox(&cursor))
    }

    /// ```
    /// list-mailbox = 1*list-char / string
    /// list-char    = ATOM-CHAR / list-wildcards / resp-specials
    /// ```
    static func parseListMailbox(_ cursor: inout ParseCursor) throws(IMAPParseError) -> [UInt8] {
        if let first = cursor.peek(), first == UInt8(ascii: "\"") || first == UInt8(ascii: "{") {
            return try IMAPGrammar.parseString(&cursor)
        }
        let pattern = cursor.consume(while: IMAPGrammar.isListChar)
        guard !pattern.isEmpty else { throw .syntax("expected a mailbox pattern") }
        return Array(pattern)
    }
}
