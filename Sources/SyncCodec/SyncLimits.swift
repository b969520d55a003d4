/// Named limits of the csync decoder. Exceeding one yields a ``SyncProtocolError`` event, never
/// unbounded buffering or a crash.
///
/// Cyrus itself has no record-count limit (a whole mailbox delta may arrive in one
/// `APPLY MAILBOX`, sync-protocol §1.11), so the defaults are generous; file-literal bodies do
/// not count towards them except ``maxFileLiteralSize``, because they are streamed, not held.
public struct SyncLimits: Hashable, Sendable {
    /// Longest line that is not a dlist (a command word with its plain arguments, a SASL
    /// response, a status or banner line), and longest single atom, flag or quoted string inside
    /// a dlist, excluding the CRLF. A dlist line itself may be longer: it is bounded by
    /// ``maxCommandSize``.
    public var maxLineLength: Int
    /// Largest literal `{n}`/`{n+}` (annotation values, sieve scripts), which is buffered.
    public var maxLiteralSize: Int
    /// Largest file literal `%{… size}` (a message file), which is streamed, never buffered.
    public var maxFileLiteralSize: Int
    /// Deepest nesting of lists and kvlists (an `APPLY MAILBOX` with record annotations needs 5).
    public var maxNestingDepth: Int
    /// Most elements in one list or entries in one kvlist.
    public var maxListItems: Int
    /// Most bytes of one command or response line, literals included, file bodies excluded.
    public var maxCommandSize: Int

    public init(
        maxLineLength: Int = 128 * 1024,
        maxLiteralSize: Int = 16 * 1024 * 1024,
        maxFileLiteralSize: Int = Int(UInt32.max),
        maxNestingDepth: Int = 16,
        maxListItems: Int = 1_000_000,
        maxCommandSize: Int = 64 * 1024 * 1024
    ) {
        self.maxLineLength = maxLineLength
        self.maxLiteralSize = maxLiteralSize
        self.maxFileLiteralSize = maxFileLiteralSize
        self.maxNestingDepth = maxNestingDepth
        self.maxListItems = maxListItems
        self.maxCommandSize = maxCommandSize
    }
}
