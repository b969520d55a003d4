import MailCore

/// A calendar date as IMAP writes it (`date-day "-" date-month "-" date-year`), no time zone.
public struct IMAPDate: Hashable, Sendable, Comparable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public static func < (a: IMAPDate, b: IMAPDate) -> Bool { (a.year, a.month, a.day) < (b.year, b.month, b.day) }
}

/// A SEARCH criterion (RFC 9051 §6.4.4, RFC 7162 MODSEQ, RFC 5032 WITHIN, RFC 8474).
///
/// Strings stay bytes in the command's charset (``SearchCommand/charset``); the server decodes
/// them. A list of keys is `.and`.
public indirect enum SearchKey: Hashable, Sendable {
    case all
    case answered, deleted, draft, flagged, seen, recent, new, old
    case unanswered, undeleted, undraft, unflagged, unseen
    case keyword(Flag)
    case unkeyword(Flag)
    case bcc([UInt8])
    case cc([UInt8])
    case from([UInt8])
    case to([UInt8])
    case subject([UInt8])
    case body([UInt8])
    case text([UInt8])
    case header(name: String, value: [UInt8])
    case before(IMAPDate)
    case on(IMAPDate)
    case since(IMAPDate)
    case sentBefore(IMAPDate)
    case sentOn(IMAPDate)
    case sentSince(IMAPDate)
    case larger(UInt64)
    case smaller(UInt64)
    case uid(SequenceSet)
    case sequence(SequenceSet)
    /// `MODSEQ [entry-name entry-type-req] mod-sequence-valzer` (entry ignored by the search)
    case modSeq(UInt64)
    /// `OLDER n` / `YOUNGER n` seconds (RFC 5032)
    case older(UInt32)
    case younger(UInt32)
    /// `EMAILID` / `THREADID` (RFC 8474)
    case emailID(String)
    case threadID(String)
    case not(SearchKey)
    case or(SearchKey, SearchKey)
    case and([SearchKey])
}

/// ESEARCH result options (RFC 4731, RFC 5182 SAVE).
public enum SearchReturnOption: String, Hashable, Sendable {
    case min = "MIN"
    case max = "MAX"
    case all = "ALL"
    case count = "COUNT"
    case save = "SAVE"
}

/// SEARCH as sent: `SEARCH [RETURN (opts)] [CHARSET cs] keys`.
public struct SearchCommand: Hashable, Sendable {
    /// nil when the client did not say `RETURN` (plain `* SEARCH` reply); `[]` means
    /// `RETURN ()`, which is ESEARCH with ALL.
    public var returnOptions: [SearchReturnOption]?
    public var charset: String?
    public var key: SearchKey

    public init(returnOptions: [SearchReturnOption]? = nil, charset: String? = nil, key: SearchKey) {
        self.returnOptions = returnOptions
        self.charset = charset
        self.key = key
    }
}
