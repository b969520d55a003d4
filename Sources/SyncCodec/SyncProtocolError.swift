/// Why the decoder rejected input, with what it did about it. Carries context (the command
/// word, a short reason), never the rejected bytes, which may hold credentials.
///
/// The decoder has already resynchronised when it reports an error with
/// ``Recovery/lineDiscarded``: it skipped the rest of the offending line, including any literal
/// or file literal announced on it, and reads the next command. ``reply`` is the status Cyrus
/// would send; a master should close on any error in a response.
public struct SyncProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable error code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case nullCommand, unrecognizedCommand, badArguments, malformedDList, malformedResponse
            case lineTooLong, literalTooLarge, fileLiteralTooLarge, nestingTooDeep, tooManyItems, commandTooLarge
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// An empty line (Cyrus: `BAD Null command`).
        public static let nullCommand = Code(.nullCommand)
        /// An unknown command word (Cyrus: `BAD IMAP_PROTOCOL_ERROR Unrecognized command`).
        public static let unrecognizedCommand = Code(.unrecognizedCommand)
        /// A known command with missing or extra plain arguments.
        public static let badArguments = Code(.badArguments)
        /// A GET/APPLY/RESTORE or data line whose dlist does not parse.
        public static let malformedDList = Code(.malformedDList)
        /// A line from a replica that is no csync response at all.
        public static let malformedResponse = Code(.malformedResponse)
        /// ``SyncLimits/maxLineLength`` exceeded.
        public static let lineTooLong = Code(.lineTooLong)
        /// ``SyncLimits/maxLiteralSize`` exceeded, or a literal size that is no number.
        public static let literalTooLarge = Code(.literalTooLarge)
        /// ``SyncLimits/maxFileLiteralSize`` exceeded.
        public static let fileLiteralTooLarge = Code(.fileLiteralTooLarge)
        /// ``SyncLimits/maxNestingDepth`` exceeded.
        public static let nestingTooDeep = Code(.nestingTooDeep)
        /// ``SyncLimits/maxListItems`` exceeded.
        public static let tooManyItems = Code(.tooManyItems)
        /// ``SyncLimits/maxCommandSize`` exceeded.
        public static let commandTooLarge = Code(.commandTooLarge)

        public var description: String { base.rawValue }
    }

    /// What the decoder did with the stream.
    public enum Recovery: Hashable, Sendable {
        /// The rest of the line (and its literals) was skipped; decoding goes on.
        case lineDiscarded
        /// The stream cannot be resynchronised (a literal size that is no number, or a broken
        /// response stream); the decoder ignores all further input. Close the connection.
        case mustClose
    }

    public let code: Code
    /// The command word (upper case) when known.
    public let verb: String?
    /// A short reason, safe to log.
    public let detail: String
    public let recovery: Recovery

    public init(_ code: Code, verb: String? = nil, detail: String, recovery: Recovery = .lineDiscarded) {
        self.code = code
        self.verb = verb
        self.detail = detail
        self.recovery = recovery
    }

    public var description: String { "\(code)\(verb.map { " in \($0)" } ?? ""): \(detail)" }

    /// The status line a replica answers with, as Cyrus words it (sync-protocol §1.4).
    public var reply: SyncStatus {
        switch code {
        case .nullCommand: return SyncStatus(.bad, text: "Null command")
        case .unrecognizedCommand: return SyncStatus(.bad, code: .protocolError, text: "Unrecognized command")
        case .badArguments: return SyncStatus(.bad, text: "\(detail)")
        default:
            if let verb, ["GET", "APPLY", "RESTORE"].contains(verb) {
                return SyncStatus(.bad, code: .protocolError, text: "Failed to parse \(verb) line")
            }
            return SyncStatus(.bad, code: .protocolError, text: detail)
        }
    }
}
