import NIOCore

/// SELECT/EXAMINE parameters (RFC 7162 CONDSTORE and QRESYNC).
public struct SelectParameters: Hashable, Sendable {
    /// `QRESYNC (uidvalidity modseq [known-uids [seq-match-data]])`
    public struct QResync: Hashable, Sendable {
        public var uidValidity: UInt32
        public var modSeq: UInt64
        public var knownUIDs: SequenceSet?
        /// `(known-sequence-set known-uid-set)`
        public var sequenceMatch: (sequences: SequenceSet, uids: SequenceSet)?

        public init(
            uidValidity: UInt32,
            modSeq: UInt64,
            knownUIDs: SequenceSet? = nil,
            sequenceMatch: (sequences: SequenceSet, uids: SequenceSet)? = nil
        ) {
            self.uidValidity = uidValidity
            self.modSeq = modSeq
            self.knownUIDs = knownUIDs
            self.sequenceMatch = sequenceMatch
        }

        public static func == (a: QResync, b: QResync) -> Bool {
            a.uidValidity == b.uidValidity && a.modSeq == b.modSeq && a.knownUIDs == b.knownUIDs
                && a.sequenceMatch?.sequences == b.sequenceMatch?.sequences
                && a.sequenceMatch?.uids == b.sequenceMatch?.uids
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(uidValidity)
            hasher.combine(modSeq)
            hasher.combine(knownUIDs)
        }
    }

    public var condStore: Bool
    public var qresync: QResync?

    public init(condStore: Bool = false, qresync: QResync? = nil) {
        self.condStore = condStore
        self.qresync = qresync
    }
}

// MARK: - Encoding

extension SelectParameters {
    /// ` (CONDSTORE QRESYNC (…))`, or nothing for the defaults.
    func write(into buffer: inout ByteBuffer) {
        var items: [String] = []
        if condStore { items.append("CONDSTORE") }
        if let qresync {
            var text = "QRESYNC (\(qresync.uidValidity) \(qresync.modSeq)"
            if let known = qresync.knownUIDs { text += " \(known)" }
            if let match = qresync.sequenceMatch { text += " (\(match.sequences) \(match.uids))" }
            items.append(text + ")")
        }
        if !items.isEmpty { buffer.writeString(" (\(items.joined(separator: " ")))") }
    }
}
