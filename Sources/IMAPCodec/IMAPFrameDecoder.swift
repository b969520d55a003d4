import NIOCore

/// Assembles complete client commands from a byte stream, literals included (RFC 9051 §4.3,
/// RFC 7888 LITERAL+/LITERAL-), without doing I/O.
///
/// A command is one or more lines; a line ending in `{n}` (synchronizing) or `{n+}`
/// (non-synchronizing) announces n literal bytes that follow the CRLF and belong to the same
/// command. The size is checked **before** the literal is accepted (the CVE-2024-34055 lesson:
/// never buffer what a client merely announces): an oversized synchronizing literal is refused
/// without a continuation, so the client never sends it; an oversized non-synchronizing one has
/// already been sent, so the connection must close.
///
/// ```
/// C: a1 LOGIN {5}
/// S: + go ahead          (the driver sends this on .continuationRequested)
/// C: alice {6+}
/// C: secret
/// ```
public struct IMAPFrameDecoder: Sendable {
    /// Named limits.
    public struct Limits: Sendable {
        /// Longest line of a command, excluding literals and the CRLF.
        public var maxLineLength: Int
        /// Largest literal accepted (APPENDLIMIT).
        public var maxLiteralSize: Int
        /// Largest command in total, literals included (except APPEND's message literal, which
        /// the engine streams: see `maxLiteralSize`).
        public var maxCommandSize: Int
        /// Literals in one command.
        public var maxLiterals: Int

        public init(
            maxLineLength: Int = 8192,
            maxLiteralSize: Int = 50 * 1024 * 1024,
            maxCommandSize: Int = 60 * 1024 * 1024,
            maxLiterals: Int = 1000
        ) {
            self.maxLineLength = maxLineLength
            self.maxLiteralSize = maxLiteralSize
            self.maxCommandSize = maxCommandSize
            self.maxLiterals = maxLiterals
        }
    }

    /// What the decoder found.
    public enum Event: Equatable, Sendable {
        /// A complete command: its exact bytes without the final CRLF, literals inline.
        case command(ByteBuffer)
        /// A synchronizing literal was accepted: the server must send a continuation (`+ ...`).
        case continuationRequested
        /// A literal over the limit. With `mustClose` (non-synchronizing) its bytes are already
        /// on their way and the connection cannot be resynchronised.
        case literalTooLarge(tag: String?, size: Int, mustClose: Bool)
        /// A command line over the limit (discarded; framing resumes at the next line).
        case lineTooLong(tag: String?)
        /// A literal count or total command size over the limits; the connection must close.
        case commandTooLarge(tag: String?)
    }

    private enum State: Sendable {
        case line
        case literal(remaining: Int)
        case discardingLine
        case failed
    }

    public let limits: Limits
    private var state: State = .line
    private var command = ByteBuffer()
    private var literals = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Consumes what it can from `input` and returns the events, in order.
    public mutating func decode(_ input: inout ByteBuffer) -> [Event] {
        var events: [Event] = []
        while input.readableBytes > 0 {
            switch state {
            case .failed:
                input.moveReaderIndex(to: input.writerIndex)
                return events
            case .literal(let remaining):
                let take = min(remaining, input.readableBytes)
                var slice = input.readSlice(length: take)!
                command.writeBuffer(&slice)
                state = remaining == take ? .line : .literal(remaining: remaining - take)
            case .discardingLine:
                guard let newline = input.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                    input.moveReaderIndex(to: input.writerIndex)
                    return events
                }
                input.moveReaderIndex(to: newline + 1)
                state = .line
            case .line:
                let view = input.readableBytesView
                guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
                    if view.count > limits.maxLineLength + 2 {
                        events.append(.lineTooLong(tag: tag(of: command, extra: view)))
                        reset()
                        input.moveReaderIndex(to: input.writerIndex)
                        state = .discardingLine
                    }
                    return events
                }
                var length = newline - input.readerIndex
                let segment = input.readSlice(length: length)!
                input.moveReaderIndex(forwardBy: 1)
                if length > 0, segment.getInteger(at: segment.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                    length -= 1
                }
                let line = segment.getSlice(at: segment.readerIndex, length: length)!
                if line.readableBytes > limits.maxLineLength {
                    events.append(.lineTooLong(tag: tag(of: command, extra: line.readableBytesView)))
                    reset()
                    continue
                }
                var copy = line
                command.writeBuffer(&copy)
                if let literal = Self.trailingLiteral(line) {
                    let tag = tag(of: command, extra: ByteBufferView())
                    literals += 1
                    if literal.size > limits.maxLiteralSize {
                        events.append(.literalTooLarge(tag: tag, size: literal.size, mustClose: !literal.synchronizing))
                        reset()
                        if !literal.synchronizing { state = .failed }
                        continue
                    }
                    if literals > limits.maxLiterals || command.readableBytes + literal.size > limits.maxCommandSize {
                        events.append(.commandTooLarge(tag: tag))
                        reset()
                        state = .failed
                        continue
                    }
                    command.writeString("\r\n")
                    if literal.synchronizing { events.append(.continuationRequested) }
                    state = literal.size == 0 ? .line : .literal(remaining: literal.size)
                    continue
                }
                events.append(.command(command))
                reset()
            }
        }
        return events
    }

    private mutating func reset() {
        command = ByteBuffer()
        literals = 0
        state = .line
    }

    /// ```
    /// literal  = "{" number64 ["+"] "}" CRLF *CHAR8     ; RFC 9051, RFC 7888
    /// literal8 = "~{" number64 ["+"] "}" CRLF *OCTET    ; RFC 3516
    /// ```
    static func trailingLiteral(_ line: ByteBuffer) -> (size: Int, synchronizing: Bool)? {
        let bytes = line.readableBytesView
        guard bytes.last == UInt8(ascii: "}"), let open = bytes.lastIndex(of: UInt8(ascii: "{")) else { return nil }
        var digits = bytes[(open + 1)..<(bytes.endIndex - 1)]
        var synchronizing = true
        if digits.last == UInt8(ascii: "+") {
            synchronizing = false
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        var size = 0
        for digit in digits {
            let (times, overflow1) = size.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(digit - 48))
            if overflow1 || overflow2 { return (Int.max, synchronizing) }
            size = sum
        }
        return (size, synchronizing)
    }

    /// The tag at the start of the command, when it is a valid tag.
    private func tag(of command: ByteBuffer, extra: ByteBufferView) -> String? {
        let bytes = Array(command.readableBytesView) + Array(extra.prefix(64))
        let tag = bytes.prefix { IMAPGrammar.isTagChar($0) }
        guard !tag.isEmpty, tag.count < bytes.count, bytes[tag.count] == UInt8(ascii: " ") else { return nil }
        return String(decoding: tag, as: UTF8.self)
    }
}
