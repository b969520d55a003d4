import MailCore
import MailMessage
import WireCore

extension IMAPCommandParser {
    /// ```
    /// fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att
    ///         / "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
    /// fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"     ; RFC 4466
    /// fetch-modifier  = "CHANGEDSINCE" SP mod-sequence-valzer               ; RFC 7162 §3.1.4.1
    ///                 / "VANISHED"                                          ; RFC 7162 §3.2.6
    /// ```
    /// The macros expand: ALL = (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE), FAST = (FLAGS
    /// INTERNALDATE RFC822.SIZE), FULL = ALL + BODY. VANISHED is refused unless the command is
    /// UID FETCH with CHANGEDSINCE, as RFC 7162 §3.2.6 requires.
    static func parseFetch(_ cursor: inout ParseCursor, uid: Bool) throws(IMAPParseError) -> IMAPCommand {
        try IMAPGrammar.parseSpace(&cursor)
        let set = try IMAPGrammar.parseSequenceSet(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        let attributes: [FetchAttribute]
        if cursor.peek() == UInt8(ascii: "(") {
            attributes = try IMAPGrammar.parseParenthesised(&cursor, what: "FETCH attributes", parseFetchAttribute)
        } else if IMAPGrammar.consumeKeyword(&cursor, "ALL") {
            attributes = [.flags, .internalDate, .rfc822Size, .envelope]
        } else if IMAPGrammar.consumeKeyword(&cursor, "FAST") {
            attributes = [.flags, .internalDate, .rfc822Size]
        } else if IMAPGrammar.consumeKeyword(&cursor, "FULL") {
            attributes = [.flags, .internalDate, .rfc822Size, .envelope, .bodyStructureNonExtensible]
        } else {
            attributes = [try parseFetchAttribute(&cursor)]
        }
        var modifiers = FetchModifiers()
        if cursor.consume(UInt8(ascii: " ")) {
            _ = try IMAPGrammar.parseParenthesised(&cursor, what: "FETCH modifiers") {
                (cursor) throws(IMAPParseError) -> Void in
                let name = try IMAPGrammar.parseAtom(&cursor).uppercased()
                switch name {
                case "CHANGEDSINCE":
                    try IMAPGrammar.parseSpace(&cursor)
                    modifiers.changedSince = try IMAPGrammar.parseNumber64(&cursor)
                case "VANISHED":
                    modifiers.vanished = true
                default:
                    throw .syntax("unknown FETCH modifier \(name)")
                }
            }
            if modifiers.vanished && (!uid || modifiers.changedSince == nil) {
                throw .syntax("VANISHED needs UID FETCH with CHANGEDSINCE")
            }
        }
        return .fetch(set, attributes, modifiers, uid: uid)
    }

    /// ```
    /// fetch-att = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" / ".TEXT"]
    ///           / "BODY" ["STRUCTURE"] / "UID" / "BODY" section [partial]
    ///           / "BODY.PEEK" section [partial]
    ///           / "BINARY" [".PEEK"] section-binary [partial] / "BINARY.SIZE" section-binary  ; RFC 3516
    ///           / "MODSEQ" / "EMAILID" / "THREADID" / "SAVEDATE"           ; RFC 7162, 8474, 8514
    /// partial   = "<" number "." nz-number ">"
    /// section-binary = "[" [section-part] "]"
    /// ```
    static func parseFetchAttribute(_ cursor: inout ParseCursor) throws(IMAPParseError) -> FetchAttribute {
        let nameBytes = cursor.consume(while: {
            IMAPGrammar.isAtomChar($0) && $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "<")
        })
        let name = String(decoding: nameBytes, as: UTF8.self).uppercased()
        switch name {
        case "ENVELOPE": return .envelope
        case "FLAGS": return .flags
        case "INTERNALDATE": return .internalDate
        case "RFC822": return .rfc822
        case "RFC822.HEADER": return .rfc822Header
        case "RFC822.SIZE": return .rfc822Size
        case "RFC822.TEXT": return .rfc822Text
        case "BODYSTRUCTURE": return .bodyStructure
        case "UID": return .uid
        case "MODSEQ": return .modSeq
        case "EMAILID": return .emailID
        case "THREADID": return .threadID
        case "SAVEDATE": return .saveDate
        case "BODY", "BODY.PEEK":
            guard cursor.peek() == UInt8(ascii: "[") else {
                if name == "BODY" { return .bodyStructureNonExtensible }
                throw .syntax("BODY.PEEK needs a section")
            }
            let section = try parseSection(&cursor)
            return .bodySection(section, peek: name == "BODY.PEEK", partial: try parsePartial(&cursor))
        case "BINARY", "BINARY.PEEK":
            let part = try parseBinarySection(&cursor)
            return .binary(part: part, peek: name == "BINARY.PEEK", partial: try parsePartial(&cursor))
        case "BINARY.SIZE":
            return .binarySize(part: try parseBinarySection(&cursor))
        case "":
            throw .syntax("expected a FETCH attribute")
        default:
            throw .syntax("unknown FETCH attribute \(name)")
        }
    }

    /// ```
    /// section         = "[" [section-spec] "]"
    /// section-spec    = section-msgtext / (section-part ["." section-text])
    /// section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
    /// section-part    = nz-number *("." nz-number)
    /// section-text    = section-msgtext / "MIME"
    /// header-list     = "(" header-fld-name *(SP header-fld-name) ")"
    /// header-fld-name = astring
    /// ```
    static func parseSection(_ cursor: inout ParseCursor) throws(IMAPParseError) -> MessageSection {
        guard cursor.consume(UInt8(ascii: "[")) else { throw .syntax("expected [ before a section") }
        if cursor.consume(UInt8(ascii: "]")) { return .whole }
        var part: [Int] = []
        var dot = false
        while let c = cursor.peek(), c >= 48, c <= 57 {
            part.append(Int(try IMAPGrammar.parseNumber(&cursor, nonZero: true)))
            guard part.count <= IMAPGrammar.maxNestingDepth else { throw .syntax("section part too deep") }
            dot = cursor.consume(UInt8(ascii: "."))
            guard dot else { break }
        }
        var text: MessageSection.Text?
        if dot || part.isEmpty {
            let name = String(
                decoding: cursor.consume(while: { IMAPGrammar.isAtomChar($0) && $0 != UInt8(ascii: "[") }),
                as: UTF8.self
            ).uppercased()
            switch name {
            case "HEADER": text = .header
            case "TEXT": text = .text
            case "MIME" where !part.isEmpty: text = .mime
            case "MIME": throw .syntax("MIME needs a part number")
            case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
                try IMAPGrammar.parseSpace(&cursor)
                let fields = try IMAPGrammar.parseParenthesised(&cursor, what: "header field names") {
                    (cursor) throws(IMAPParseError) -> String in
                    String(decoding: try IMAPGrammar.parseAString(&cursor), as: UTF8.self)
                }
                text = name == "HEADER.FIELDS" ? .headerFields(fields) : .headerFieldsNot(fields)
            default:
                throw .syntax("unknown section \(name.isEmpty ? "text" : name)")
            }
        }
        guard cursor.consume(UInt8(ascii: "]")) else { throw .syntax("expected ] after section") }
        return MessageSection(part: part, text: text)
    }

    /// `section-binary = "[" [section-part] "]"`
    static func parseBinarySection(_ cursor: inout ParseCursor) throws(IMAPParseError) -> [Int] {
        guard cursor.consume(UInt8(ascii: "[")) else { throw .syntax("BINARY needs a section") }
        var part: [Int] = []
        if cursor.consume(UInt8(ascii: "]")) { return part }
        repeat {
            part.append(Int(try IMAPGrammar.parseNumber(&cursor, nonZero: true)))
            guard part.count <= IMAPGrammar.maxNestingDepth else { throw .syntax("section part too deep") }
        } while cursor.consume(UInt8(ascii: "."))
        guard cursor.consume(UInt8(ascii: "]")) else { throw .syntax("expected ] after BINARY section") }
        return part
    }

    /// `partial = "<" number "." nz-number ">"`; nil when absent.
    static func parsePartial(_ cursor: inout ParseCursor) throws(IMAPParseError) -> FetchPartial? {
        guard cursor.consume(UInt8(ascii: "<")) else { return nil }
        let offset = try IMAPGrammar.parseNumber(&cursor)
        guard cursor.consume(UInt8(ascii: ".")) else { throw .syntax("partial needs <offset.length>") }
        let length = try IMAPGrammar.parseNumber(&cursor, nonZero: true)
        guard cursor.consume(UInt8(ascii: ">")) else { throw .syntax("expected > after partial") }
        return FetchPartial(offset: offset, length: length)
    }

    /// ```
    /// store = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
    /// store-modifiers = SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"   ; RFC 7162 §3.1.3
    /// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
    /// ```
    static func parseStore(_ cursor: inout ParseCursor, uid: Bool) throws(IMAPParseError) -> IMAPCommand {
        try IMAPGrammar.parseSpace(&cursor)
        let set = try IMAPGrammar.parseSequenceSet(&cursor)
        try IMAPGrammar.parseSpace(&cursor)
        var unchangedSince: UInt64?
        if cursor.consume(UInt8(ascii: "(")) {
            guard IMAPGrammar.consumeKeyword(&cursor, "UNCHANGEDSINCE") else {
                throw .syntax("unknown STORE modifier")
            }
            try IMAPGrammar.parseSpace(&cursor)
            unchangedSince = try IMAPGrammar.parseNumber64(&cursor)
            guard cursor.consume(UInt8(ascii: ")")) else { throw .syntax("expected ) after STORE modifier") }
            try IMAPGrammar.parseSpace(&cursor)
        }
        var mode = StoreAction.Mode.replace
        if cursor.consume(UInt8(ascii: "+")) {
            mode = .add
        } else if cursor.consume(UInt8(ascii: "-")) {
            mode = .remove
        }
        let item = try IMAPGrammar.parseAtom(&cursor).uppercased()
        guard item == "FLAGS" || item == "FLAGS.SILENT" else { throw .syntax("STORE changes FLAGS, not \(item)") }
        try IMAPGrammar.parseSpace(&cursor)
        var flags: [Flag]
        if cursor.peek() == UInt8(ascii: "(") {
            flags = try IMAPGrammar.parseFlags(&cursor)
        } else {
            flags = []
            repeat {
                let backslash = cursor.consume(UInt8(ascii: "\\"))
                let atom = try IMAPGrammar.parseAtom(&cursor)
                guard let flag = Flag(backslash ? "\\" + atom : atom) else { throw .syntax("invalid flag \(atom)") }
                flags.append(flag)
                guard flags.count <= IMAPGrammar.maxListItems else { throw .syntax("too many flags") }
            } while cursor.consume(UInt8(ascii: " "))
        }
        let action = StoreAction(mode: mode, silent: item == "FLAGS.SILENT", flags: flags)
        return .store(set, unchangedSince: unchangedSince, action, uid: uid)
    }
}
