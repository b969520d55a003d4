import NIOCore

/// Decodes the csync byte stream incrementally, without I/O, for either role
/// (sync-protocol §1–2): a replica reads commands, a master reads responses.
///
/// Bytes may arrive in chunks of any size, down to one byte; the events are the same. The
/// decoder parses dlists as their bytes arrive, so it holds at most one token or literal and
/// the value under construction, and it never holds a file literal: the bodies of
/// `APPLY MESSAGE (%{p guid n}CRLF<n octets> …)` (and of a `* MESSAGE` reply) leave as
/// `.fileLiteralStarted`, `.fileLiteralBytesReceived`…, `.fileLiteralFinished`, before the
/// `.commandReceived` / `.responseReceived` event of their line. If an `.errorDetected` comes
/// instead, the files streamed for that line must be dropped.
///
/// ```
/// C: APPLY MESSAGE (%{default 6cde…80cc 111}      → .fileLiteralStarted(…)
/// C: From: Eve <eve@example.com> …                → .fileLiteralBytesReceived(…) …
/// C: )                                            → .fileLiteralFinished, .commandReceived(.apply(…))
/// ```
///
/// Literals `{n}` and `{n+}` are both accepted and never waited for (§2.4): Cyrus masters send
/// only `{n+}`, and no csync peer expects a `+ go ahead`. A decoder made with
/// ``SynchronizingLiterals/requestContinuation`` emits `.continuationRequested` for each
/// accepted `{n}` instead, for peers that wait, and skips no refused `{n}` literal.
///
/// Lines that change how the following bytes must be read stop the decoder: after a replica
/// reads `AUTHENTICATE`, `STARTTLS` or `COMPRESS`, and after the status line that
/// ``pauseAfterNextStatus()`` asked for, `decode` consumes nothing until ``resume()`` or
/// ``expectSASLResponse()``. The bytes left in the buffer are the caller's to route (through
/// TLS or inflate) and feed back.
public struct SyncDecoder: Sendable {
    /// Which side of the protocol this decoder reads for.
    public enum Role: Sendable {
        /// The sync server: reads commands.
        case replica
        /// The sync client: reads responses.
        case master
    }

    /// Whether `{n}` literals get a continuation request.
    public enum SynchronizingLiterals: Sendable {
        /// Read `{n}` like `{n+}`, as every Cyrus 3.x peer expects (the default).
        case readWithoutContinuation
        /// Emit `.continuationRequested` before each accepted `{n}` literal.
        case requestContinuation
    }

    /// What the decoder found, in stream order.
    public enum Event: Hashable, Sendable {
        /// Replica role: a complete command.
        case commandReceived(SyncCommand)
        /// Replica role, after ``SyncDecoder/expectSASLResponse()``: one SASL response line
        /// (base64, or `*` to cancel).
        case saslResponseReceived(String)
        /// Master role: a complete response line.
        case responseReceived(SyncResponse)
        /// A file literal's header; its bytes follow.
        case fileLiteralStarted(FileLiteral)
        /// The next bytes of the current file literal.
        case fileLiteralBytesReceived(ByteBuffer)
        /// The current file literal is complete.
        case fileLiteralFinished
        /// A `{n}` literal was accepted under ``SynchronizingLiterals/requestContinuation``:
        /// send `+ go ahead`.
        case continuationRequested
        /// Input was rejected; see ``SyncProtocolError/recovery`` and ``SyncProtocolError/reply``.
        case errorDetected(SyncProtocolError)
    }

    private enum TextKind: Sendable {
        case commandArguments
        case saslResponse
        case capability
        case continuation
        case status(SyncStatus.Kind)
        case fatal
    }

    private enum State: Sendable {
        case lineStart
        /// The first word of a line, in `token`.
        case word
        /// The key of the top-level item, in `token`.
        case key
        /// The rest of a line that is not a dlist, in `token`.
        case text(TextKind)
        /// Between dlist tokens.
        case value
        case atom
        case flag
        case quoted(escaped: Bool)
        /// After `%`: `(` or `{` must follow.
        case percent
        /// Inside `{…}`, digits and `+` in `token`.
        case literalHeader
        case literalLineEnd(size: Int, synchronizing: Bool, sawCR: Bool)
        case literalData(remaining: Int)
        /// Inside `%{…}`, the header bytes in `token`.
        case fileHeader(inQuote: Bool, escaped: Bool)
        case fileLineEnd(FileLiteral, sawCR: Bool)
        case fileData(FileLiteral, remaining: Int)
        /// After the top-level value: only CRLF or LF may follow.
        case lineEnd(sawCR: Bool)
        /// Skipping the rest of a rejected line; the line's tail is kept in `token` to spot a
        /// literal announced at its end.
        case discard
        /// Skipping the bytes of a refused literal, then the rest of its line.
        case skip(remaining: Int)
        case paused
        case failed
    }

    public let role: Role
    public let limits: SyncLimits
    public let synchronizingLiterals: SynchronizingLiterals

    private var state: State = .lineStart
    private var token: [UInt8] = []
    private var builder = DListBuilder()
    /// Replica role: the current command word, upper case.
    private var verb: String?
    private var topKey = ""
    private var commandBytes = 0
    private var saslResponsePending = false
    private var expectingBanner: Bool
    private var pauseAfterStatus = false
    /// Replica role: stop after each command (or refused line) until ``resume()``. Used where
    /// commands are embedded in another protocol (the IMAP flavour's `SYNCAPPLY`): the bytes
    /// after the command belong to that protocol again.
    public var pausesAfterEachCommand = false

    /// A replica decoder starts reading commands; a master decoder starts reading the banner.
    public init(
        role: Role,
        limits: SyncLimits = SyncLimits(),
        synchronizingLiterals: SynchronizingLiterals = .readWithoutContinuation
    ) {
        self.role = role
        self.limits = limits
        self.synchronizingLiterals = synchronizingLiterals
        self.expectingBanner = role == .master
    }

    /// Whether the decoder is paused (after AUTHENTICATE, STARTTLS, COMPRESS, a requested
    /// status line, or a command under ``pausesAfterEachCommand``).
    public var isPaused: Bool { if case .paused = state { true } else { false } }

    /// Leaves the pause after AUTHENTICATE, STARTTLS, COMPRESS or a requested status line.
    public mutating func resume() {
        if case .paused = state { state = .lineStart }
    }

    /// Replica role: the next line is a SASL response to the challenge just sent (§1.6).
    /// Also resumes.
    public mutating func expectSASLResponse() {
        saslResponsePending = true
        resume()
    }

    /// Master role: the next lines are a banner again, up to `* OK` (after STARTTLS, §1.7).
    public mutating func expectBanner() {
        expectingBanner = true
    }

    /// Master role: stop after the next status line, e.g. the reply to COMPRESS or STARTTLS,
    /// after which the stream changes.
    public mutating func pauseAfterNextStatus() {
        pauseAfterStatus = true
    }

    /// Bytes held for the token, literal or line being read (not counting the value built so
    /// far); never more than the largest limit that applies.
    public var heldByteCount: Int { token.count }

    /// Consumes what it can from `input` and returns the events, in order.
    public mutating func decode(_ input: inout ByteBuffer) -> [Event] {
        var events: [Event] = []
        var stalls = 0
        loop: while true {
            if pausesAfterEachCommand, case .lineStart = state,
                events.contains(where: {
                    if case .commandReceived = $0 { true } else if case .errorDetected = $0 { true } else { false }
                })
            {
                state = .paused
            }
            switch state {
            case .paused:
                break loop
            case .failed:
                input.moveReaderIndex(to: input.writerIndex)
                break loop
            case .literalData(let remaining):
                let take = min(remaining, input.readableBytes)
                guard take > 0 else { break loop }
                token.append(contentsOf: input.readableBytesView.prefix(take))
                input.moveReaderIndex(forwardBy: take)
                commandBytes += take
                if take == remaining {
                    finishLiteral(&events)
                } else {
                    state = .literalData(remaining: remaining - take)
                }
            case .fileData(let file, let remaining):
                let take = min(remaining, input.readableBytes)
                guard take > 0 else { break loop }
                if let bytes = input.readSlice(length: take) { events.append(.fileLiteralBytesReceived(bytes)) }
                if take == remaining {
                    finishFile(file, &events)
                } else {
                    state = .fileData(file, remaining: remaining - take)
                }
            case .skip(let remaining):
                let take = min(remaining, input.readableBytes)
                guard take > 0 else { break loop }
                input.moveReaderIndex(forwardBy: take)
                if take == remaining {
                    resetToken()
                    state = .discard
                } else {
                    state = .skip(remaining: remaining - take)
                }
            default:
                guard let byte = input.getInteger(at: input.readerIndex, as: UInt8.self) else { break loop }
                if step(byte, &events) {
                    input.moveReaderIndex(forwardBy: 1)
                    stalls = 0
                } else {
                    // Every "not consumed" path moves to a state that consumes the byte; this is
                    // a guard against a future mistake looping forever on hostile input.
                    stalls += 1
                    if stalls > 4 {
                        fail(.malformedDList, "decoder stalled", &events, mustClose: true)
                    }
                }
            }
        }
        return events
    }

    // MARK: - One byte

    /// Handles one byte; returns false when the byte must be handled again in the new state.
    private mutating func step(_ byte: UInt8, _ events: inout [Event]) -> Bool {
        switch state {
        case .lineStart, .paused, .failed, .literalData, .fileData, .skip, .discard:
            break
        default:
            commandBytes += 1
            if commandBytes > limits.maxCommandSize {
                commandBytes -= 1
                return fail(.commandTooLarge, "more than \(limits.maxCommandSize) bytes", &events)
            }
        }
        switch state {
        case .lineStart:
            commandBytes = 0
            verb = nil
            resetToken()
            builder.reset()
            if saslResponsePending {
                saslResponsePending = false
                state = .text(.saslResponse)
            } else {
                state = .word
            }
            return false
        case .word:
            return wordByte(byte, &events)
        case .key:
            return keyByte(byte, &events)
        case .text(let kind):
            if byte == UInt8(ascii: "\n") {
                if token.last == UInt8(ascii: "\r") { token.removeLast() }
                guard !token.contains(UInt8(ascii: "\r")) else {
                    return failAtLineEnd(
                        role == .replica ? .badArguments : .malformedResponse,
                        "bare CR in a line",
                        &events
                    )
                }
                finishText(kind, &events)
                return true
            }
            return appendToken(byte, &events)
        case .value:
            return valueByte(byte, &events)
        case .atom:
            if DListGrammar.endsAtom(byte) {
                finishAtom(&events)
                return false
            }
            return appendToken(byte, &events)
        case .flag:
            if DListGrammar.endsAtom(byte) {
                guard token.count > 1 else { return fail(.malformedDList, "empty flag", &events) }
                addValue(.flag(String(decoding: token, as: UTF8.self)), &events)
                return false
            }
            return appendToken(byte, &events)
        case .quoted(let escaped):
            return quotedByte(byte, escaped: escaped, &events)
        case .percent:
            if byte == UInt8(ascii: "(") {
                guard !builder.expectingKey else { return fail(.malformedDList, "a key must be a string", &events) }
                return open(keyValue: true, &events)
            }
            guard byte == UInt8(ascii: "{") else { return fail(.malformedDList, "% must start %( or %{", &events) }
            resetToken()
            state = .fileHeader(inQuote: false, escaped: false)
            return true
        case .literalHeader:
            return literalHeaderByte(byte, &events)
        case .literalLineEnd(let size, let synchronizing, let sawCR):
            if byte == UInt8(ascii: "\r"), !sawCR {
                state = .literalLineEnd(size: size, synchronizing: synchronizing, sawCR: true)
                return true
            }
            guard byte == UInt8(ascii: "\n") else {
                return fail(.malformedDList, "a literal size must end its line", &events)
            }
            return literalAnnounced(size: size, synchronizing: synchronizing, &events)
        case .fileHeader(let inQuote, let escaped):
            return fileHeaderByte(byte, inQuote: inQuote, escaped: escaped, &events)
        case .fileLineEnd(let file, let sawCR):
            if byte == UInt8(ascii: "\r"), !sawCR {
                state = .fileLineEnd(file, sawCR: true)
                return true
            }
            guard byte == UInt8(ascii: "\n") else {
                return fail(.malformedDList, "a file literal header must end its line", &events)
            }
            return fileAnnounced(file, &events)
        case .lineEnd(let sawCR):
            if byte == UInt8(ascii: "\r"), !sawCR {
                state = .lineEnd(sawCR: true)
                return true
            }
            guard byte == UInt8(ascii: "\n") else {
                return fail(.malformedDList, "unexpected data after the item", &events)
            }
            finishItem(&events)
            return true
        case .discard:
            discardByte(byte)
            return true
        case .literalData, .fileData, .skip, .paused, .failed:
            return true
        }
    }

    // MARK: - Words and plain lines

    /// ```
    /// command  = verb [SP arguments] CRLF              ; replica role, verb case-insensitive
    /// response = "*" SP (capability / key SP value / "Fatal error:" text) CRLF
    ///          / "+" [SP text] CRLF / status-word [SP text] CRLF     ; master role
    /// ```
    private mutating func wordByte(_ byte: UInt8, _ events: inout [Event]) -> Bool {
        guard byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") else { return appendToken(byte, &events) }
        let atEnd = byte == UInt8(ascii: "\n")
        if atEnd, token.last == UInt8(ascii: "\r") { token.removeLast() }
        let word = String(decoding: token, as: UTF8.self)
        resetToken()
        switch role {
        case .replica: return verbFound(word.uppercased(), atEnd: atEnd, &events)
        case .master: return responseWordFound(word, atEnd: atEnd, &events)
        }
    }

    private mutating func verbFound(_ word: String, atEnd: Bool, _ events: inout [Event]) -> Bool {
        if word.isEmpty, atEnd {
            return failAtLineEnd(.nullCommand, "empty line", &events)
        }
        verb = word
        switch word {
        case "GET", "APPLY", "RESTORE":
            guard !atEnd else { return failAtLineEnd(.malformedDList, "missing argument", &events) }
            state = .key
        case "AUTHENTICATE", "STARTTLS", "COMPRESS", "NOOP", "RESTART", "EXIT":
            if atEnd {
                finishPlainCommand(arguments: [], &events)
            } else {
                state = .text(.commandArguments)
            }
        default:
            verb = nil
            if atEnd { return failAtLineEnd(.unrecognizedCommand, "unknown command", &events) }
            _ = fail(.unrecognizedCommand, "unknown command", &events)
        }
        return true
    }

    private mutating func responseWordFound(_ word: String, atEnd: Bool, _ events: inout [Event]) -> Bool {
        if word == "*" {
            guard !atEnd else { return failAtLineEnd(.malformedResponse, "empty untagged line", &events) }
            state = expectingBanner ? .text(.capability) : .key
            return true
        }
        if word == "+" {
            if atEnd {
                emit(.continuation(""), &events)
            } else {
                state = .text(.continuation)
            }
            return true
        }
        guard let kind = SyncStatus.Kind(rawValue: word.uppercased()) else {
            return atEnd
                ? failAtLineEnd(.malformedResponse, "not a csync response", &events)
                : fail(.malformedResponse, "not a csync response", &events)
        }
        if atEnd {
            finishText(.status(kind), &events)
        } else {
            state = .text(.status(kind))
        }
        return true
    }

    /// ```
    /// item = key SP value CRLF        ; key: an atom; the replica upper-cases command keys
    /// ```
    private mutating func keyByte(_ byte: UInt8, _ events: inout [Event]) -> Bool {
        if DListGrammar.isSpace(byte) {
            if token.isEmpty { return true }
            let key = String(decoding: token, as: UTF8.self)
            resetToken()
            if role == .master, key == "Fatal" {
                state = .text(.fatal)
                return true
            }
            topKey = role == .replica ? key.uppercased() : key
            builder.reset()
            state = .value
            return true
        }
        guard !DListGrammar.endsAtom(byte) else { return fail(.malformedDList, "missing value", &events) }
        return appendToken(byte, &events)
    }

    /// Finishes a line that is not a dlist.
    ///
    /// ```
    /// arguments    = *(SP word)                       ; after a plain command word
    /// sasl-line    = base64 / "*"
    /// banner-line  = "*" SP name *(SP parameter) / "*" SP "OK" SP text
    /// continuation = "+" [SP text]
    /// status-line  = status-word [SP [code SP] text]
    /// fatal-line   = "*" SP "Fatal error:" [SP] text
    /// ```
    private mutating func finishText(_ kind: TextKind, _ events: inout [Event]) {
        let text = String(decoding: token, as: UTF8.self)
        resetToken()
        state = .lineStart
        switch kind {
        case .commandArguments:
            finishPlainCommand(arguments: text.split(separator: " ").map(String.init), &events)
        case .saslResponse:
            events.append(.saslResponseReceived(text))
        case .capability:
            let words = text.split(separator: " ").map(String.init)
            guard let name = words.first else {
                _ = failAtLineEnd(.malformedResponse, "empty banner line", &events)
                return
            }
            if name.uppercased() == "OK" {
                expectingBanner = false
                emit(.greeting(String(text.drop { $0 == " " }.dropFirst(2).drop { $0 == " " })), &events)
            } else {
                emit(.capability(name: name, parameters: Array(words.dropFirst())), &events)
            }
        case .continuation:
            emit(.continuation(text), &events)
        case .status(let kind):
            emit(.status(SyncStatus.parse(kind: kind, rest: Array(text.utf8))), &events)
            if pauseAfterStatus {
                pauseAfterStatus = false
                state = .paused
            }
        case .fatal:
            guard text.hasPrefix("error:") else {
                _ = failAtLineEnd(.malformedResponse, "malformed fatal error line", &events)
                return
            }
            let message = text.dropFirst("error:".count)
            emit(.fatalError(String(message.first == " " ? message.dropFirst() : message)), &events)
        }
    }

    /// ```
    /// authenticate = "AUTHENTICATE" SP mechanism [SP (base64 / "=")]
    /// compress     = "COMPRESS" SP algorithm
    /// other        = "STARTTLS" / "NOOP" / "RESTART" / "EXIT"       ; no arguments
    /// ```
    private mutating func finishPlainCommand(arguments: [String], _ events: inout [Event]) {
        state = .lineStart
        let command: SyncCommand
        switch verb {
        case "AUTHENTICATE":
            guard (1...2).contains(arguments.count) else {
                let why =
                    arguments.isEmpty
                    ? "Missing required argument to Authenticate" : "Too many arguments to Authenticate"
                _ = failAtLineEnd(.badArguments, why, &events)
                return
            }
            let initial = arguments.count == 2 ? (arguments[1] == "=" ? "" : arguments[1]) : nil
            command = .authenticate(mechanism: arguments[0], initialResponse: initial)
            state = .paused
        case "COMPRESS":
            guard arguments.count == 1 else {
                _ = failAtLineEnd(.badArguments, "Missing required argument to Compress", &events)
                return
            }
            command = .compress(algorithm: arguments[0])
            state = .paused
        default:
            guard arguments.isEmpty else {
                _ = failAtLineEnd(.badArguments, "Unexpected extra arguments", &events)
                return
            }
            switch verb {
            case "STARTTLS":
                command = .startTLS
                state = .paused
            case "NOOP": command = .noop
            case "RESTART": command = .restart
            default: command = .exit
            }
        }
        events.append(.commandReceived(command))
    }

    // MARK: - dlist tokens

    /// ```
    /// value  = list / kvlist / file / literal / flag / nil / astring
    /// list   = "(" [value *(SP value)] ")"
    /// kvlist = "%(" [key SP value *(SP key SP value)] ")"
    /// ```
    /// Whitespace between elements is skipped; a line end inside a list is an error.
    private mutating func valueByte(_ byte: UInt8, _ events: inout [Event]) -> Bool {
        if DListGrammar.isSpace(byte) { return true }
        switch byte {
        case UInt8(ascii: "("):
            guard !builder.expectingKey else { return fail(.malformedDList, "a key must be a string", &events) }
            return open(keyValue: false, &events)
        case UInt8(ascii: ")"):
            do throws(DListBuilder.Failure) {
                try builder.close(limits: limits)
            } catch {
                return fail(error.code, error.detail, &events)
            }
            state = builder.isComplete ? .lineEnd(sawCR: false) : .value
            return true
        case UInt8(ascii: "%"):
            state = .percent
        case UInt8(ascii: "\""):
            resetToken()
            state = .quoted(escaped: false)
        case UInt8(ascii: "{"):
            resetToken()
            state = .literalHeader
        case UInt8(ascii: "\\"):
            guard !builder.expectingKey else { return fail(.malformedDList, "a key must be a string", &events) }
            resetToken()
            token.append(byte)
            state = .flag
        case UInt8(ascii: "\r"), UInt8(ascii: "\n"):
            return fail(.malformedDList, builder.isNested ? "line ended inside a list" : "missing value", &events)
        default:
            resetToken()
            token.append(byte)
            state = .atom
        }
        return true
    }

    private mutating func open(keyValue: Bool, _ events: inout [Event]) -> Bool {
        do throws(DListBuilder.Failure) {
            try builder.open(keyValue: keyValue, limits: limits)
        } catch {
            return fail(error.code, error.detail, &events)
        }
        state = .value
        return true
    }

    /// `nil = "NIL"`; a canonical decimal atom is a number; anything else a string.
    private mutating func finishAtom(_ events: inout [Event]) {
        if builder.expectingKey {
            builder.setKey(String(decoding: token, as: UTF8.self))
            state = .value
            return
        }
        if token == DListGrammar.nilBytes {
            addValue(.null, &events)
        } else if let number = DListGrammar.canonicalNumber(token) {
            addValue(.number(number), &events)
        } else {
            addValue(.string(token), &events)
        }
    }

    /// ```
    /// quoted = DQUOTE *(any octet but CR, LF, DQUOTE, "\" / "\" octet) DQUOTE
    /// ```
    private mutating func quotedByte(_ byte: UInt8, escaped: Bool, _ events: inout [Event]) -> Bool {
        if byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") {
            return fail(.malformedDList, "line ended inside a quoted string", &events)
        }
        if escaped {
            state = .quoted(escaped: false)
            return appendToken(byte, &events)
        }
        switch byte {
        case UInt8(ascii: "\\"):
            state = .quoted(escaped: true)
        case UInt8(ascii: "\""):
            if builder.expectingKey {
                builder.setKey(String(decoding: token, as: UTF8.self))
                state = .value
            } else {
                addValue(.string(token), &events)
            }
        default:
            return appendToken(byte, &events)
        }
        return true
    }

    /// ```
    /// literal = "{" 1*DIGIT ["+"] "}" [CR] LF <n octets>
    /// ```
    private mutating func literalHeaderByte(_ byte: UInt8, _ events: inout [Event]) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            guard token.last != UInt8(ascii: "+") else { return fail(.malformedDList, "bad literal size", &events) }
            token.append(byte)
            guard token.count <= 20 else {
                return fail(.literalTooLarge, "literal size is no number", &events, mustClose: true)
            }
            return true
        case UInt8(ascii: "+"):
            guard !token.isEmpty, token.last != UInt8(ascii: "+") else {
                return fail(.malformedDList, "bad literal size", &events)
            }
            token.append(byte)
            return true
        case UInt8(ascii: "}"):
            guard !token.isEmpty else { return fail(.malformedDList, "bad literal size", &events) }
            let synchronizing = token.last != UInt8(ascii: "+")
            guard
                let size = DListGrammar.decimal(token.prefix { $0 != UInt8(ascii: "+") }).flatMap({ Int(exactly: $0) })
            else {
                return fail(.literalTooLarge, "literal size is no number", &events, mustClose: true)
            }
            resetToken()
            state = .literalLineEnd(size: size, synchronizing: synchronizing, sawCR: false)
            return true
        default:
            return fail(.malformedDList, "bad literal size", &events)
        }
    }

    /// Called at the LF after `{n}`/`{n+}`: checks the size before any byte is buffered (a
    /// peer may announce anything), then reads the literal or skips it.
    private mutating func literalAnnounced(size: Int, synchronizing: Bool, _ events: inout [Event]) -> Bool {
        let waitsForContinuation = synchronizing && synchronizingLiterals == .requestContinuation
        var refusal: (SyncProtocolError.Code, String)?
        if size > limits.maxLiteralSize {
            refusal = (.literalTooLarge, "literal of \(size) bytes, limit \(limits.maxLiteralSize)")
        } else if size > limits.maxCommandSize - commandBytes {
            refusal = (.commandTooLarge, "more than \(limits.maxCommandSize) bytes")
        }
        if let (code, detail) = refusal {
            if waitsForContinuation {
                // The peer waits for a continuation that never comes: the line ends here.
                return failAtLineEnd(code, detail, &events)
            }
            guard size <= Int(UInt32.max) else { return fail(code, detail, &events, mustClose: true) }
            _ = fail(code, detail, &events)
            if role == .replica { state = .skip(remaining: size) }
            return true
        }
        if waitsForContinuation { events.append(.continuationRequested) }
        resetToken()
        token.reserveCapacity(size)
        if size == 0 {
            finishLiteral(&events)
        } else {
            state = .literalData(remaining: size)
        }
        return true
    }

    private mutating func finishLiteral(_ events: inout [Event]) {
        if builder.expectingKey {
            builder.setKey(String(decoding: token, as: UTF8.self))
            state = .value
        } else {
            addValue(.literal(token), &events)
        }
        resetToken()
    }

    /// ```
    /// file = "%{" astring SP astring SP number "}" [CR] LF <number octets>
    /// ```
    private mutating func fileHeaderByte(_ byte: UInt8, inQuote: Bool, escaped: Bool, _ events: inout [Event]) -> Bool {
        guard byte != UInt8(ascii: "\r"), byte != UInt8(ascii: "\n"), token.count < 2048 else {
            return fail(.malformedDList, "bad file literal header", &events)
        }
        if inQuote {
            token.append(byte)
            if escaped {
                state = .fileHeader(inQuote: true, escaped: false)
            } else if byte == UInt8(ascii: "\\") {
                state = .fileHeader(inQuote: true, escaped: true)
            } else if byte == UInt8(ascii: "\"") {
                state = .fileHeader(inQuote: false, escaped: false)
            }
            return true
        }
        switch byte {
        case UInt8(ascii: "}"):
            guard let file = FileLiteral.parseHeader(token) else {
                return fail(.malformedDList, "bad file literal header", &events)
            }
            resetToken()
            state = .fileLineEnd(file, sawCR: false)
        case UInt8(ascii: "\""):
            token.append(byte)
            state = .fileHeader(inQuote: true, escaped: false)
        default:
            token.append(byte)
        }
        return true
    }

    /// Called at the LF after a file literal header: the body is streamed out, or skipped
    /// when over the limit.
    private mutating func fileAnnounced(_ file: FileLiteral, _ events: inout [Event]) -> Bool {
        let size = Int(file.size)
        guard !builder.expectingKey else {
            // The body is on its way: skip it, or its lines would be read as commands.
            _ = fail(.malformedDList, "a key must be a string", &events)
            if role == .replica { state = .skip(remaining: size) }
            return true
        }
        guard size <= limits.maxFileLiteralSize else {
            _ = fail(
                .fileLiteralTooLarge,
                "file literal of \(size) bytes, limit \(limits.maxFileLiteralSize)",
                &events
            )
            if role == .replica { state = .skip(remaining: size) }
            return true
        }
        events.append(.fileLiteralStarted(file))
        if size == 0 {
            finishFile(file, &events)
        } else {
            state = .fileData(file, remaining: size)
        }
        return true
    }

    private mutating func finishFile(_ file: FileLiteral, _ events: inout [Event]) {
        events.append(.fileLiteralFinished)
        addValue(.file(file), &events)
    }

    private mutating func addValue(_ value: DList, _ events: inout [Event]) {
        do throws(DListBuilder.Failure) {
            try builder.add(value, limits: limits)
        } catch {
            _ = fail(error.code, error.detail, &events)
            return
        }
        state = builder.isComplete ? .lineEnd(sawCR: false) : .value
    }

    private mutating func finishItem(_ events: inout [Event]) {
        guard let root = builder.root else { return }
        let item = DList.Item(topKey, root)
        builder.reset()
        state = .lineStart
        switch role {
        case .master:
            emit(.data(item), &events)
        case .replica:
            switch verb {
            case "GET": events.append(.commandReceived(.get(item)))
            case "APPLY": events.append(.commandReceived(.apply(item)))
            default: events.append(.commandReceived(.restore(item)))
            }
        }
    }

    private mutating func emit(_ response: SyncResponse, _ events: inout [Event]) {
        events.append(.responseReceived(response))
    }

    // MARK: - Limits and errors

    private mutating func appendToken(_ byte: UInt8, _ events: inout [Event]) -> Bool {
        guard token.count < limits.maxLineLength else {
            return fail(.lineTooLong, "longer than \(limits.maxLineLength) bytes", &events)
        }
        token.append(byte)
        return true
    }

    /// Reports an error and skips the rest of the line; the current byte is handled again by
    /// the discarding state (so an LF ends the line there). Returns false for that reason.
    @discardableResult
    private mutating func fail(
        _ code: SyncProtocolError.Code,
        _ detail: String,
        _ events: inout [Event],
        mustClose: Bool = false
    ) -> Bool {
        let close = mustClose || role == .master
        events.append(
            .errorDetected(
                SyncProtocolError(code, verb: verb, detail: detail, recovery: close ? .mustClose : .lineDiscarded)
            )
        )
        builder.reset()
        resetToken()
        state = close ? .failed : .discard
        return false
    }

    /// Reports an error found at the LF that ends the line: nothing is left to skip.
    private mutating func failAtLineEnd(
        _ code: SyncProtocolError.Code,
        _ detail: String,
        _ events: inout [Event]
    ) -> Bool {
        fail(code, detail, &events)
        if case .discard = state { state = .lineStart }
        return true
    }

    /// Skips a byte of a rejected line. At its LF, a literal or file literal announced at the
    /// end of the line is skipped too, so the next command is read from its first byte.
    private mutating func discardByte(_ byte: UInt8) {
        guard byte == UInt8(ascii: "\n") else {
            token.append(byte)
            if token.count > 2 * Self.discardTailLength { token.removeFirst(token.count - Self.discardTailLength) }
            return
        }
        if token.last == UInt8(ascii: "\r") { token.removeLast() }
        let size = Self.trailingLiteralSize(token, requestContinuation: synchronizingLiterals == .requestContinuation)
        resetToken()
        if let size, size > 0 {
            state = .skip(remaining: size)
        } else {
            state = .lineStart
        }
    }

    /// How much of a discarded line is kept to find a literal announced at its end: enough
    /// for any file-literal header the decoder would have accepted.
    static let discardTailLength = 2100

    /// The size of a literal or file literal announced at the end of a discarded `line`.
    /// A `{n}` is not skipped when continuations are requested: none was sent for it.
    ///
    /// ```
    /// line-end = "{" 1*DIGIT ["+"] "}" / "%{" *(any byte but "}") SP 1*DIGIT "}"
    /// ```
    static func trailingLiteralSize(_ line: [UInt8], requestContinuation: Bool) -> Int? {
        guard line.last == UInt8(ascii: "}"), let open = line.lastIndex(of: UInt8(ascii: "{")) else { return nil }
        var inside = line[(open + 1)..<(line.count - 1)]
        if open > 0, line[open - 1] == UInt8(ascii: "%") {
            guard let space = inside.lastIndex(of: UInt8(ascii: " ")) else { return nil }
            return DListGrammar.decimal(inside[(space + 1)...]).flatMap { $0 <= UInt32.max ? Int($0) : nil }
        }
        if inside.last == UInt8(ascii: "+") {
            inside = inside.dropLast()
        } else if requestContinuation {
            return nil
        }
        return DListGrammar.decimal(inside).flatMap { $0 <= UInt32.max ? Int($0) : nil }
    }

    /// Drops the token, without keeping a large literal's capacity around.
    private mutating func resetToken() {
        if token.capacity > 64 * 1024 {
            token = []
        } else {
            token.removeAll(keepingCapacity: true)
        }
    }
}
