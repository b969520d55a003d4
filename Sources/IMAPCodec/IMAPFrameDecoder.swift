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
///
/// APPEND's message literals are not buffered (a message can be as large as `maxLiteralSize`):
/// when the verb is APPEND and a line ends with the message literal, the decoder emits
/// `.appendMessageBegin` and waits for ``acceptAppendMessage()`` or ``rejectAppendMessage()``,
/// then streams the bytes as `.appendMessageBytes` up to `.appendMessageEnd`; the rest of the
/// line is either another MULTIAPPEND message (RFC 3502) or the end, `.appendEnd`. Literals
/// before the message (a mailbox name) are buffered as usual. A `.lineTooLong`,
/// `.literalTooLarge` or `.commandTooLarge` between `.appendMessageBegin` and `.appendEnd`
/// ends the APPEND.
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
        /// An APPEND message literal was announced: `prefix` is the command text before it (the
        /// first time `tag APPEND mailbox [flags] [date] `, for each further MULTIAPPEND message
        /// ` [flags] [date] `), without the `{size}`. The decoder then waits: the engine calls
        /// ``IMAPFrameDecoder/acceptAppendMessage()`` (and sends `+ ` when `synchronizing`) or
        /// ``IMAPFrameDecoder/rejectAppendMessage()`` (and replies with a tagged NO).
        /// Parse the prefix with ``IMAPCommandParser/parseAppendStart(_:)`` or
        /// ``IMAPCommandParser/parseAppendNext(_:)``.
        case appendMessageBegin(prefix: ByteBuffer, size: Int, synchronizing: Bool)
        /// The next bytes of an accepted APPEND message, in order.
        case appendMessageBytes(ByteBuffer)
        /// The accepted APPEND message is complete.
        case appendMessageEnd
        /// The APPEND command ended after its last message (the engine commits what it staged).
        case appendEnd
        /// Text after an APPEND message that is neither the end of the line nor another message
        /// ending in a literal: the engine discards what it staged and replies BAD.
        case appendMalformed(tag: String?)
        /// A replication command of Cyrus's IMAP flavour (`tag SYNCGET …`, `SYNCAPPLY`,
        /// `SYNCRESTART`, `SYNCRESTORE`; sync-protocol §1.10) starts here. Its payload is a csync
        /// dlist (with file literals IMAP cannot frame), so nothing of it is consumed: the engine
        /// skips `tag SYNC`, reads the command with a csync decoder, then calls
        /// ``IMAPFrameDecoder/resumeAfterReplicationCommand()``.
        case replicationCommand(tag: String)
    }

    private enum State: Sendable {
        case line
        case literal(remaining: Int)
        case discardingLine
        case failed
        /// `.appendMessageBegin` was emitted; nothing moves until the engine decides.
        case appendDecision(size: Int, synchronizing: Bool)
        /// Streaming an accepted APPEND message out as events.
        case appendMessage(remaining: Int)
        /// Dropping a rejected non-synchronizing APPEND message, then the rest of its line.
        case appendDiscard(remaining: Int)
        /// Dropping the rest of a rejected APPEND's line, and the bytes of any further
        /// non-synchronizing message it announces (MULTIAPPEND).
        case appendDiscardLine
        /// `.replicationCommand` was emitted; nothing moves until the engine has read it.
        case replication
    }

    public let limits: Limits
    private var state: State = .line
    private var command = ByteBuffer()
    private var literals = 0
    /// Set from the first `.appendMessageBegin` until the APPEND ends: the next line is the
    /// rest of the APPEND command after a message literal.
    private var appendTag: String??

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Consumes what it can from `input` and returns the events, in order. While an APPEND
    /// message awaits the engine's decision, nothing is consumed.
    public mutating func decode(_ input: inout ByteBuffer) -> [Event] {
        var events: [Event] = []
        loop: while true {
            switch state {
            case .failed:
                input.moveReaderIndex(to: input.writerIndex)
                break loop
            case .appendDecision, .replication:
                break loop
            case .appendMessage(let remaining):
                if remaining == 0 {
                    events.append(.appendMessageEnd)
                    state = .line
                    continue
                }
                guard input.readableBytes > 0 else { break loop }
                let take = min(remaining, input.readableBytes)
                events.append(.appendMessageBytes(input.readSlice(length: take)!))
                state = .appendMessage(remaining: remaining - take)
            case .appendDiscard(let remaining):
                if remaining == 0 {
                    state = .appendDiscardLine
                    continue
                }
                guard input.readableBytes > 0 else { break loop }
                let take = min(remaining, input.readableBytes)
                input.moveReaderIndex(forwardBy: take)
                state = .appendDiscard(remaining: remaining - take)
            case .appendDiscardLine:
                guard let newline = input.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                    if input.readableBytes > limits.maxLineLength + 2 {
                        input.moveReaderIndex(to: input.writerIndex)
                        state = .discardingLine
                    }
                    break loop
                }
                var line = input.readSlice(length: newline - input.readerIndex)!
                input.moveReaderIndex(forwardBy: 1)
                if line.readableBytesView.last == UInt8(ascii: "\r") { line.moveWriterIndex(to: line.writerIndex - 1) }
                guard let literal = Self.trailingLiteral(line), !literal.synchronizing else {
                    state = .line
                    continue
                }
                if literal.size > limits.maxLiteralSize {
                    events.append(.literalTooLarge(tag: nil, size: literal.size, mustClose: true))
                    state = .failed
                    continue
                }
                state = .appendDiscard(remaining: literal.size)
            case .literal(let remaining):
                guard input.readableBytes > 0 else { break loop }
                let take = min(remaining, input.readableBytes)
                var slice = input.readSlice(length: take)!
                command.writeBuffer(&slice)
                state = remaining == take ? .line : .literal(remaining: remaining - take)
            case .discardingLine:
                guard let newline = input.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
                    input.moveReaderIndex(to: input.writerIndex)
                    break loop
                }
                input.moveReaderIndex(to: newline + 1)
                state = .line
            case .line:
                guard input.readableBytes > 0 else { break loop }
                if command.readableBytes == 0, appendTag == nil {
                    switch Self.replicationPrefix(input.readableBytesView) {
                    case .some(.some(let tag)):
                        events.append(.replicationCommand(tag: tag))
                        state = .replication
                        continue
                    case .some(.none):
                        break loop  // could still become a SYNC command: wait for more bytes
                    case .none:
                        break
                    }
                }
                let view = input.readableBytesView
                guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
                    if view.count > limits.maxLineLength + 2 {
                        events.append(.lineTooLong(tag: currentTag(extra: view)))
                        reset()
                        input.moveReaderIndex(to: input.writerIndex)
                        state = .discardingLine
                    }
                    break loop
                }
                var length = newline - input.readerIndex
                let segment = input.readSlice(length: length)!
                input.moveReaderIndex(forwardBy: 1)
                if length > 0, segment.getInteger(at: segment.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                    length -= 1
                }
                let line = segment.getSlice(at: segment.readerIndex, length: length)!
                if line.readableBytes > limits.maxLineLength {
                    events.append(.lineTooLong(tag: currentTag(extra: line.readableBytesView)))
                    reset()
                    continue
                }
                lineReceived(line, events: &events)
            }
        }
        return events
    }

    /// One complete line (without CRLF) of the current command.
    private mutating func lineReceived(_ line: ByteBuffer, events: inout [Event]) {
        let lineStart = command.readableBytes
        var copy = line
        command.writeBuffer(&copy)
        guard let literal = Self.trailingLiteral(line) else {
            if let tag = appendTag {
                events.append(command.readableBytes == 0 ? .appendEnd : .appendMalformed(tag: tag))
                reset()
                return
            }
            events.append(.command(command))
            reset()
            return
        }
        let prefixLength = lineStart + literal.start
        let isMessage = appendTag != nil || Self.isAppendMessageLiteral(command, prefixLength: prefixLength)
        let tag = currentTag(extra: ByteBufferView())
        literals += 1
        if literal.size > limits.maxLiteralSize {
            events.append(.literalTooLarge(tag: tag, size: literal.size, mustClose: !literal.synchronizing))
            reset()
            if !literal.synchronizing { state = .failed }
            return
        }
        if literals > limits.maxLiterals
            || (!isMessage && command.readableBytes + literal.size > limits.maxCommandSize)
        {
            events.append(.commandTooLarge(tag: tag))
            reset()
            state = .failed
            return
        }
        if isMessage {
            let prefix = command.getSlice(at: command.readerIndex, length: prefixLength)!
            events.append(.appendMessageBegin(prefix: prefix, size: literal.size, synchronizing: literal.synchronizing))
            appendTag = .some(tag)
            command = ByteBuffer()
            state = .appendDecision(size: literal.size, synchronizing: literal.synchronizing)
            return
        }
        command.writeString("\r\n")
        if literal.synchronizing { events.append(.continuationRequested) }
        state = literal.size == 0 ? .line : .literal(remaining: literal.size)
    }

    /// Lets the APPEND message announced by the last `.appendMessageBegin` through: its bytes
    /// follow as `.appendMessageBytes` and `.appendMessageEnd`. Does nothing at other times.
    ///
    /// ```
    /// C: a1 APPEND Drafts (\Seen) {11}
    ///        → .appendMessageBegin(prefix: "a1 APPEND Drafts (\Seen) ", size: 11, synchronizing: true)
    ///        (engine: parseAppendStart, checks the mailbox, acceptAppendMessage())
    /// S: + Ready for literal data
    /// C: Hello world {5+}
    ///        → .appendMessageBytes("Hello world"), .appendMessageEnd,
    ///          .appendMessageBegin(prefix: " ", size: 5, synchronizing: false)   (MULTIAPPEND)
    ///        (engine: parseAppendNext, acceptAppendMessage())
    /// C: Again
    ///        → .appendMessageBytes("Again"), .appendMessageEnd, .appendEnd
    /// S: a1 OK [APPENDUID 38505 3955:3956] APPEND completed
    /// ```
    public mutating func acceptAppendMessage() {
        guard case .appendDecision(let size, _) = state else { return }
        state = .appendMessage(remaining: size)
    }

    /// Refuses the APPEND message announced by the last `.appendMessageBegin`; the engine
    /// replies with a tagged NO (and drops the messages it staged). A synchronizing literal
    /// was never sent, so framing resumes at the next line; a non-synchronizing one is on its
    /// way, so its bytes and the rest of its line are read and discarded (with the bytes of any
    /// further non-synchronizing MULTIAPPEND message on that line). Does nothing at other times.
    public mutating func rejectAppendMessage() {
        guard case .appendDecision(let size, let synchronizing) = state else { return }
        reset()
        if !synchronizing { state = .appendDiscard(remaining: size) }
    }

    /// Leaves the pause after `.replicationCommand` (the command's bytes have been read).
    public mutating func resumeAfterReplicationCommand() {
        if case .replication = state { state = .line }
    }

    /// The replication verbs of the IMAP flavour, after `SYNC`.
    static let replicationVerbs = ["GET", "APPLY", "RESTART", "RESTORE"]

    /// ```
    /// sync-command = tag SP "SYNC" ("GET" / "APPLY" / "RESTORE") SP dlist-item CRLF
    ///              / tag SP "SYNCRESTART" CRLF                       ; sync-protocol §1.10
    /// ```
    /// Whether `bytes` start a replication command: its tag; `.some(nil)` when the bytes so
    /// far could still be one; nil when they are not.
    static func replicationPrefix(_ bytes: ByteBufferView) -> String?? {
        guard let space = bytes.prefix(66).firstIndex(of: UInt8(ascii: " ")) else {
            return bytes.count < 66 && !bytes.contains(UInt8(ascii: "\n")) ? .some(nil) : nil
        }
        let tag = bytes[bytes.startIndex..<space]
        guard !tag.isEmpty,
            tag.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "*") && $0 != UInt8(ascii: "+") })
        else { return nil }
        let rest = bytes[(space + 1)...]
        var partial = false
        for verb in replicationVerbs {
            let word = Array(("SYNC" + verb).utf8)
            let head = Array(rest.prefix(word.count + 1)).map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
            if head.count <= word.count {
                if Array(word.prefix(head.count)) == head { partial = true }
                continue
            }
            if Array(head.prefix(word.count)) == word,
                [UInt8(ascii: " "), UInt8(ascii: "\r"), UInt8(ascii: "\n")].contains(head[word.count])
            {
                return .some(String(decoding: tag, as: UTF8.self))
            }
        }
        return partial ? .some(nil) : nil
    }

    private mutating func reset() {
        command = ByteBuffer()
        literals = 0
        appendTag = nil
        state = .line
    }

    /// Whether the literal ending `command` at `prefixLength` is an APPEND message: the verb is
    /// APPEND and the mailbox is already there (a literal right after `APPEND ` is the mailbox).
    static func isAppendMessageLiteral(_ command: ByteBuffer, prefixLength: Int) -> Bool {
        let bytes = command.readableBytesView.prefix(prefixLength)
        let tag = bytes.prefix { IMAPGrammar.isTagChar($0) }
        guard !tag.isEmpty else { return false }
        let verb = Array(bytes.dropFirst(tag.count).prefix(8))
        guard verb.count == 8, verb.first == UInt8(ascii: " "), verb.last == UInt8(ascii: " "),
            String(decoding: verb, as: UTF8.self).uppercased() == " APPEND "
        else { return false }
        return bytes.count > tag.count + verb.count
    }

    /// ```
    /// literal  = "{" number64 ["+"] "}" CRLF *CHAR8     ; RFC 9051, RFC 7888
    /// literal8 = "~{" number64 ["+"] "}" CRLF *OCTET    ; RFC 3516
    /// ```
    /// `start` is the offset in `line` where the literal's `{` (or `~{`) begins.
    static func trailingLiteral(_ line: ByteBuffer) -> (size: Int, synchronizing: Bool, start: Int)? {
        let bytes = line.readableBytesView
        guard bytes.last == UInt8(ascii: "}"), let open = bytes.lastIndex(of: UInt8(ascii: "{")) else { return nil }
        var digits = bytes[(open + 1)..<(bytes.endIndex - 1)]
        var synchronizing = true
        if digits.last == UInt8(ascii: "+") {
            synchronizing = false
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        var start = open - bytes.startIndex
        if start > 0, bytes[open - 1] == UInt8(ascii: "~") { start -= 1 }
        var size = 0
        for digit in digits {
            let (times, overflow1) = size.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(digit - 48))
            if overflow1 || overflow2 { return (Int.max, synchronizing, start) }
            size = sum
        }
        return (size, synchronizing, start)
    }

    /// The tag of the command being assembled (the APPEND's, between its messages).
    private func currentTag(extra: ByteBufferView) -> String? {
        if let appendTag { return appendTag }
        return tag(of: command, extra: extra)
    }

    /// The tag at the start of the command, when it is a valid tag.
    private func tag(of command: ByteBuffer, extra: ByteBufferView) -> String? {
        let bytes = Array(command.readableBytesView) + Array(extra.prefix(64))
        let tag = bytes.prefix { IMAPGrammar.isTagChar($0) }
        guard !tag.isEmpty, tag.count < bytes.count, bytes[tag.count] == UInt8(ascii: " ") else { return nil }
        return String(decoding: tag, as: UTF8.self)
    }
}
