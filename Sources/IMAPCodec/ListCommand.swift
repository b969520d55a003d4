/// LIST as RFC 5258 (LIST-EXTENDED), RFC 6154 (SPECIAL-USE) and RFC 5819 (LIST-STATUS) extend it.
public struct ListCommand: Hashable, Sendable {
    public enum SelectOption: String, Hashable, Sendable {
        case subscribed = "SUBSCRIBED"
        case remote = "REMOTE"
        case recursiveMatch = "RECURSIVEMATCH"
        case specialUse = "SPECIAL-USE"
    }

    public enum ReturnOption: Hashable, Sendable {
        case subscribed
        case children
        case specialUse
        /// `STATUS (items)` (RFC 5819)
        case status([String])
        /// `MYRIGHTS` (RFC 8440)
        case myRights
    }

    public var reference: [UInt8]
    /// One or more patterns (`mbox-or-pat`); several only in the parenthesised form.
    public var patterns: [[UInt8]]
    public var selectOptions: [SelectOption]
    /// nil when the client wrote no RETURN clause.
    public var returnOptions: [ReturnOption]?

    public init(
        reference: [UInt8],
        patterns: [[UInt8]],
        selectOptions: [SelectOption] = [],
        returnOptions: [ReturnOption]? = nil
    ) {
        self.reference = reference
        self.patterns = patterns
        self.selectOptions = selectOptions
        self.returnOptions = returnOptions
    }
}
