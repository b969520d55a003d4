import NIOCore
import SyncCodec
import Testing

/// Every named limit yields one error event, the offending line (with its literals) is
/// skipped, and the next command decodes normally.
@Suite struct SyncDecoderLimitTests {
    static let small = SyncLimits(
        maxLineLength: 32,
        maxLiteralSize: 16,
        maxFileLiteralSize: 64,
        maxNestingDepth: 3,
        maxListItems: 4,
        maxCommandSize: 200
    )

    /// Decodes `line` followed by `NOOP`, byte at a time and at once; both must agree.
    static func rejected(_ line: String) -> [SyncProtocolError] {
        let wire = Array((line + "\r\nNOOP\r\n").utf8)
        let events = SyncTestSupport.decode(wire, role: .replica, limits: small)
        let oneByte = SyncTestSupport.decode(wire, role: .replica, chunk: 1, limits: small)
        #expect(SyncTestSupport.merged(oneByte) == SyncTestSupport.merged(events))
        #expect(SyncTestSupport.commands(events).last == .noop, "resynchronised after: \(line.prefix(40))")
        return SyncTestSupport.errors(events)
    }

    @Test func lineLength() {
        #expect(Self.rejected("AUTHENTICATE PLAIN " + String(repeating: "A", count: 40)).map(\.code) == [.lineTooLong])
        #expect(Self.rejected("APPLY X " + String(repeating: "a", count: 33)).map(\.code) == [.lineTooLong])
        #expect(Self.rejected("APPLY X \"" + String(repeating: "a", count: 33) + "\"").map(\.code) == [.lineTooLong])
        #expect(Self.rejected(String(repeating: "X", count: 40)).map(\.code) == [.lineTooLong])
        // A dlist line may be longer than maxLineLength when no single token is.
        #expect(Self.rejected("APPLY X (aaaaaaaaaa bbbbbbbbbb cccccccccc dddddddddd)").isEmpty)
    }

    @Test func literalSize() {
        let errors = Self.rejected("APPLY SIEVE %(CONTENT {17+}\r\n" + String(repeating: "x", count: 17) + ")")
        #expect(errors.map(\.code) == [.literalTooLarge])
        #expect(errors.first?.recovery == .lineDiscarded)
        #expect(errors.first?.reply == SyncStatus(.bad, code: .protocolError, text: "Failed to parse APPLY line"))
        #expect(Self.rejected("APPLY SIEVE %(CONTENT {16+}\r\n" + String(repeating: "x", count: 16) + ")").isEmpty)
    }

    @Test func fileLiteralSize() {
        let body = String(repeating: "m", count: 65)
        let errors = Self.rejected("APPLY MESSAGE (%{default 6cde83a0be6945226dc22cf647c994d66bfb80cc 65}\r\n\(body))")
        #expect(errors.map(\.code) == [.fileLiteralTooLarge])
    }

    @Test func nestingDepth() {
        #expect(Self.rejected("APPLY X (((a)))").isEmpty)
        #expect(Self.rejected("APPLY X ((%(A (b))))").map(\.code) == [.nestingTooDeep])
    }

    @Test func itemsPerList() {
        #expect(Self.rejected("APPLY X (a b c d)").isEmpty)
        #expect(Self.rejected("APPLY X (a b c d e)").map(\.code) == [.tooManyItems])
        #expect(Self.rejected("APPLY X %(A 1 B 2 C 3 D 4 E 5)").map(\.code) == [.tooManyItems])
    }

    @Test func commandSize() {
        let many = (0..<30).map { "a\($0)" }.joined(separator: " ")
        let limits = SyncLimits(maxListItems: 100, maxCommandSize: 64)
        let wire = Array(("APPLY X (\(many))\r\nNOOP\r\n").utf8)
        let events = SyncTestSupport.decode(wire, role: .replica, limits: limits)
        #expect(SyncTestSupport.errors(events).map(\.code) == [.commandTooLarge])
        #expect(SyncTestSupport.commands(events) == [.noop])
        // A literal that would overflow the command is refused from its announced size.
        let literal = SyncTestSupport.decode(
            Array("APPLY X %(A {60+}\r\n\(String(repeating: "z", count: 60)))\r\nNOOP\r\n".utf8),
            role: .replica,
            limits: limits
        )
        #expect(SyncTestSupport.errors(literal).map(\.code) == [.commandTooLarge])
        #expect(SyncTestSupport.commands(literal) == [.noop])
    }

    /// A literal size that is no number cannot be skipped: the connection must close.
    @Test func absurdLiteralSizeMustClose() {
        let events = SyncTestSupport.decode(
            Array("APPLY X {99999999999999999999+}\r\nNOOP\r\n".utf8),
            role: .replica,
            limits: Self.small
        )
        #expect(SyncTestSupport.errors(events).map(\.recovery) == [.mustClose])
        #expect(SyncTestSupport.commands(events).isEmpty)
    }

    /// Under `requestContinuation` a refused `{n}` literal was never asked for: nothing is
    /// skipped, the next line is the next command.
    @Test func refusedSynchronizingLiteralIsNotSkipped() {
        let events = SyncTestSupport.decode(
            Array("APPLY X {100}\r\nNOOP\r\n".utf8),
            role: .replica,
            limits: Self.small,
            literals: .requestContinuation
        )
        #expect(SyncTestSupport.errors(events).map(\.code) == [.literalTooLarge])
        #expect(!events.contains(.continuationRequested))
        #expect(SyncTestSupport.commands(events) == [.noop])
    }

    /// A master closes on any error from the replica.
    @Test func masterErrorsMustClose() {
        let events = SyncTestSupport.decode(
            Array("* SIEVE %(CONTENT {17}\r\n\(String(repeating: "x", count: 17)))\r\nOK success\r\n".utf8),
            role: .master,
            limits: Self.small,
            skipBanner: true
        )
        #expect(SyncTestSupport.errors(events).map(\.recovery) == [.mustClose])
        #expect(SyncTestSupport.responses(events).isEmpty)
    }
}
