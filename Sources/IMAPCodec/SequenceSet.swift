import MailCore

/// One end of a sequence range: a number or `*` (the largest in use).
public enum SequenceNumber: Hashable, Sendable {
    case number(UInt32)
    case last
}

/// `a:b` as written; the order of the ends is not significant (RFC 9051 §9).
public struct SequenceRange: Hashable, Sendable {
    public var first: SequenceNumber
    public var last: SequenceNumber

    public init(_ first: SequenceNumber, _ last: SequenceNumber) {
        self.first = first
        self.last = last
    }
}

/// An IMAP `sequence-set` before `*` is resolved, or `$` (the saved SEARCH result).
public enum SequenceSet: Hashable, Sendable {
    case ranges([SequenceRange])
    case lastResult

    /// Resolves `*` to `largest` and returns the canonical set; nil for `$`. With
    /// `largest == 0` (empty mailbox) `*` resolves to nothing.
    public func resolved(largest: UInt32) -> UIDSet? {
        guard case .ranges(let ranges) = self else { return nil }
        var set = UIDSet()
        for range in ranges {
            func value(_ n: SequenceNumber) -> UInt32? {
                switch n {
                case .number(let v): v
                case .last: largest == 0 ? nil : largest
                }
            }
            guard let a = value(range.first), let b = value(range.last) else { continue }
            set.insert(min(a, b)...max(a, b))
        }
        return set
    }
}

// MARK: - Encoding

extension SequenceSet: CustomStringConvertible {
    public var description: String {
        switch self {
        case .lastResult:
            return "$"
        case .ranges(let ranges):
            func text(_ n: SequenceNumber) -> String {
                switch n {
                case .number(let v): String(v)
                case .last: "*"
                }
            }
            return ranges.map { $0.first == $0.last ? text($0.first) : "\(text($0.first)):\(text($0.last))" }
                .joined(separator: ",")
        }
    }
}
