/// One inconsistency found by a store check (`corvid check`).
public struct StoreProblem: Hashable, Sendable, CustomStringConvertible {
    /// What kind of inconsistency.
    public enum Kind: String, Hashable, Sendable {
        case blobMissing = "blob-missing"
        case blobCorrupt = "blob-corrupt"
        case refcountMismatch = "refcount-mismatch"
        case quotaMismatch = "quota-mismatch"
        case countMismatch = "count-mismatch"
        case uidInvariant = "uid-invariant"
        case modseqInvariant = "modseq-invariant"
        case orphanRecord = "orphan-record"
        /// A cached header names no stored message, or differs from its message's header.
        case headerCache = "header-cache"
        case database = "database"
    }

    public var kind: Kind
    /// Where: a mailbox name, GUID or quota root.
    public var subject: String
    public var detail: String

    public init(_ kind: Kind, _ subject: String, _ detail: String) {
        self.kind = kind
        self.subject = subject
        self.detail = detail
    }

    public var description: String { "\(kind.rawValue) \(subject): \(detail)" }
}

/// The outcome of a store check.
public struct StoreCheckReport: Sendable {
    public var problems: [StoreProblem]
    /// Facts worth telling that are not problems (e.g. unreferenced files left by a crash).
    public var notes: [String]
    public var mailboxesChecked: Int
    public var recordsChecked: Int
    public var blobsChecked: Int
    /// Rows of the header cache looked at (compared with their message unless the check is fast).
    public var headersChecked: Int

    public init(
        problems: [StoreProblem] = [],
        notes: [String] = [],
        mailboxesChecked: Int = 0,
        recordsChecked: Int = 0,
        blobsChecked: Int = 0,
        headersChecked: Int = 0
    ) {
        self.problems = problems
        self.notes = notes
        self.mailboxesChecked = mailboxesChecked
        self.recordsChecked = recordsChecked
        self.blobsChecked = blobsChecked
        self.headersChecked = headersChecked
    }

    public var isHealthy: Bool { problems.isEmpty }
}
