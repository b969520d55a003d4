/// A set of UIDs kept as sorted, disjoint, non-adjacent closed ranges.
///
/// The canonical form of an IMAP `sequence-set` of UIDs (RFC 9051 §9) once `*` has been
/// resolved, and of the UID lists in QRESYNC `VANISHED` and csync. Inserting merges ranges, so
/// the representation is always minimal and two equal sets compare equal.
public struct UIDSet: Hashable, Sendable, CustomStringConvertible {
    /// The ranges, ascending; adjacent or overlapping ranges never appear side by side.
    public private(set) var ranges: [ClosedRange<UInt32>] = []

    public init() {}

    public init(_ uids: some Sequence<UID>) {
        for uid in uids { insert(uid) }
    }

    public init(ranges: some Sequence<ClosedRange<UInt32>>) {
        for range in ranges { insert(range) }
    }

    public var isEmpty: Bool { ranges.isEmpty }

    /// Number of UIDs in the set.
    public var count: Int { ranges.reduce(0) { $0 + Int($1.upperBound - $1.lowerBound) + 1 } }

    public func contains(_ uid: UID) -> Bool {
        var low = 0
        var high = ranges.count - 1
        while low <= high {
            let mid = (low + high) / 2
            if ranges[mid].upperBound < uid.rawValue {
                low = mid + 1
            } else if ranges[mid].lowerBound > uid.rawValue {
                high = mid - 1
            } else {
                return true
            }
        }
        return false
    }

    public mutating func insert(_ uid: UID) { insert(uid.rawValue...uid.rawValue) }

    /// Inserts a range, merging it with every range it overlaps or touches.
    public mutating func insert(_ range: ClosedRange<UInt32>) {
        var lower = range.lowerBound
        var upper = range.upperBound
        // First range that could touch `range` (its upper bound + 1 >= lower).
        var start = 0
        while start < ranges.count, ranges[start].upperBound < lower, ranges[start].upperBound &+ 1 < lower {
            start += 1
        }
        var end = start
        while end < ranges.count, upper == UInt32.max || ranges[end].lowerBound <= upper + 1 {
            lower = min(lower, ranges[end].lowerBound)
            upper = max(upper, ranges[end].upperBound)
            end += 1
        }
        ranges.replaceSubrange(start..<end, with: [lower...upper])
    }

    /// Removes one UID, splitting the range that holds it.
    public mutating func remove(_ uid: UID) {
        let value = uid.rawValue
        guard let index = ranges.firstIndex(where: { $0.contains(value) }) else { return }
        let range = ranges[index]
        var pieces: [ClosedRange<UInt32>] = []
        if range.lowerBound < value { pieces.append(range.lowerBound...(value - 1)) }
        if value < range.upperBound { pieces.append((value + 1)...range.upperBound) }
        ranges.replaceSubrange(index...index, with: pieces)
    }

    /// Parses the IMAP form (`1:3,7`; `""` is empty); nil when malformed. Cyrus keeps a user's
    /// seen UIDs in this form (`SEENUIDS`).
    ///
    /// ```
    /// uid-set = uid-range *("," uid-range)      uid-range = nz-number [":" nz-number]
    /// ```
    public init?(parsing text: String) {
        self.init()
        guard !text.isEmpty else { return }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: ":", omittingEmptySubsequences: false)
            guard (1...2).contains(bounds.count), let low = UInt32(bounds[0]), let high = UInt32(bounds.last!), low > 0,
                high > 0
            else { return nil }
            insert(min(low, high)...max(low, high))
        }
    }

    public func union(_ other: UIDSet) -> UIDSet {
        var result = self
        for range in other.ranges { result.insert(range) }
        return result
    }

    /// The UIDs in ascending order (use only for small sets).
    public var uids: [UID] { ranges.flatMap { $0.map { UID($0) } } }

    /// The IMAP form, e.g. `1:3,7,9:12`.
    public var description: String {
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound):\($0.upperBound)" }
            .joined(separator: ",")
    }
}
