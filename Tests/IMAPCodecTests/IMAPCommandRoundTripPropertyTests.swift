import IMAPCodec
import MailCore
import MailMessage
import NIOCore
import PropertyBased
import Testing

/// Arbitrary arguments, written as a client writes them, come back through the framer (byte
/// chunks of any size) and the parser unchanged; APPEND comes back through the streaming events.
@Suite struct IMAPCommandRoundTripPropertyTests {
    static let text = Gen.element(of: Array("aZ0 .\"\\{}()%*]\u{7f}é\r\n+~/".utf8)).map { $0 ?? 0x61 }.array(of: 0...24)
    static let binary = Gen.element(of: Array("a{}\r\n~+\u{0}\"".utf8)).map { $0 ?? 0 }.array(of: 0...40)

    /// Feeds `wire` in `chunk`-byte pieces, accepting every APPEND message.
    static func decode(_ wire: ByteBuffer, chunk: Int) -> [IMAPFrameDecoder.Event] {
        var decoder = IMAPFrameDecoder()
        var input = ByteBuffer()
        var events: [IMAPFrameDecoder.Event] = []
        let all = Array(wire.readableBytesView)
        var offset = 0
        while offset < all.count {
            input.writeBytes(all[offset..<min(offset + chunk, all.count)])
            offset += chunk
            var more = true
            while more {
                more = false
                for event in decoder.decode(&input) {
                    if case .appendMessageBegin = event {
                        decoder.acceptAppendMessage()
                        more = true
                    }
                    events.append(event)
                }
            }
            #expect(input.readableBytes <= 8192 + 2, "the decoder never holds more than a line")
            input.discardReadBytes()
        }
        return events
    }

    @Test func stringArgumentsRoundTrip() async {
        await propertyCheck(input: Self.text, Self.text, Gen.int(in: 1...9)) { first, second, chunk in
            let commands: [IMAPCommand] = [
                .search(
                    SearchCommand(
                        charset: "UTF-8",
                        key: .or(.subject(first), .not(.and([.header(name: "X-A", value: second), .all])))
                    ),
                    uid: true
                ),
                .list(ListCommand(reference: first, patterns: [second + [0x25]], returnOptions: [.children])),
                .lsub(reference: second, pattern: first + [0x2a]),
                .setACL(MailboxArgument(first + [0x61]), identifier: second, rights: first),
                .setQuota(root: first, limits: [QuotaLimit(resource: "STORAGE", limit: 1)]),
                .setMetadata(MailboxArgument(second), entries: [MetadataEntry(name: "/private/x", value: first)]),
                .copy(.lastResult, MailboxArgument(first + [0x62]), uid: false),
            ]
            for command in commands {
                var wire = ByteBuffer()
                TaggedCommand(tag: "t7", command: command).write(into: &wire)
                let frames = Self.decode(wire, chunk: chunk).compactMap { event -> ByteBuffer? in
                    guard case .command(let frame) = event else { return nil }
                    return frame
                }
                #expect(frames.count == 1)
                #expect(
                    frames.first.flatMap { try? IMAPCommandParser.parse($0) }
                        == TaggedCommand(tag: "t7", command: command)
                )
            }
        }
    }

    @Test func appendStreamsBackToTheSameMessages() async {
        await propertyCheck(input: Self.binary, Self.binary, Gen.int(in: 1...13)) { first, second, chunk in
            let command = IMAPCommand.append(
                MailboxArgument(Array("Sent {3}".utf8)),
                [
                    AppendMessage(flags: [.seen, Flag("$Label1")!], bytes: ByteBuffer(bytes: first)),
                    AppendMessage(internalDate: " 7-Feb-2026 10:11:12 +0100", bytes: ByteBuffer(bytes: second)),
                ]
            )
            var wire = ByteBuffer()
            TaggedCommand(tag: "x", command: command).write(into: &wire)
            var mailbox: MailboxArgument?
            var messages: [AppendMessage] = []
            var ended = false
            for event in Self.decode(wire, chunk: chunk) {
                switch event {
                case .appendMessageBegin(let prefix, _, _):
                    if mailbox == nil {
                        let start = try? IMAPCommandParser.parseAppendStart(prefix)
                        #expect(start?.tag == "x")
                        mailbox = start?.mailbox
                        messages.append(start?.2 ?? AppendMessage())
                    } else {
                        messages.append((try? IMAPCommandParser.parseAppendNext(prefix)) ?? AppendMessage())
                    }
                case .appendMessageBytes(var bytes):
                    messages[messages.count - 1].bytes.writeBuffer(&bytes)
                case .appendMessageEnd:
                    break
                case .appendEnd:
                    ended = true
                default:
                    Issue.record("unexpected \(event)")
                }
            }
            #expect(ended)
            #expect(mailbox.map { IMAPCommand.append($0, messages) } == command)
        }
    }

    /// Fragments of the grammars after every new verb: the parsers must throw, never crash, and
    /// what they accept must write back to something they accept again.
    @Test func grammarSoupNeverCrashesAndAcceptedInputRoundTrips() async {
        let verbs = [
            "SELECT x", "EXAMINE x", "CREATE x", "LIST", "LSUB", "APPEND x", "FETCH", "UID FETCH", "STORE",
            "UID STORE", "SEARCH", "UID SEARCH", "COPY", "UID MOVE", "SETACL", "SETQUOTA", "GETMETADATA",
            "SETMETADATA", "GETQUOTAROOT", "COMPRESS",
        ]
        let fragments = [
            " ", "(", ")", "[", "]", "<", ">", ".", ":", ",", "*", "%", "$", "\"", "1", "0", "7", "\\Seen",
            "{3}\r\nabc",
            "~{2}\r\n\u{0}b", "ALL", "OR", "NOT", "BODY", "BODY.PEEK", "BINARY", "HEADER.FIELDS", "HEADER", "MIME",
            "TEXT",
            "RETURN", "CHARSET", "UID", "FLAGS", "+FLAGS", "CONDSTORE", "QRESYNC", "USE", "MODSEQ", "SINCE",
            "1-Feb-2026", "CHANGEDSINCE", "VANISHED", "UNCHANGEDSINCE", "/shared/x", "NIL", "DEPTH", "MAXSIZE",
            "STATUS", "MESSAGES", "\" 7-Feb-2026 10:11:12 +0100\"", "INBOX", "é",
        ]
        let soup = Gen.element(of: fragments).map { $0 ?? " " }.array(of: 0...20)
        await propertyCheck(count: 2000, input: Gen.element(of: verbs).map { $0 ?? "FETCH" }, soup) { verb, parts in
            let line = "t \(verb)" + parts.joined()
            guard let parsed = try? IMAPCommandParser.parse(ByteBuffer(string: line)) else { return }
            var wire = ByteBuffer()
            parsed.write(into: &wire)
            wire.moveWriterIndex(to: wire.writerIndex - 2)
            #expect((try? IMAPCommandParser.parse(wire)) == parsed, "\(line)")
        }
    }

    /// The valid table lines with one fragment inserted, deleted or replaced at a random place:
    /// deep parser paths must throw rather than crash, and accepted mutants must round-trip.
    @Test func mutatedValidCommandsNeverCrashAndAcceptedOnesRoundTrip() async {
        let lines = IMAPCommandParserCommandsTests.table.map { Array($0.0.utf8) }
        let fragments = [
            " ", "(", ")", "[", "]", "<", ">", ".", ":", ",", "*", "$", "\"", "0", "9", "\\", "{1}\r\nx",
            "~{1}\r\n\u{0}",
            "NOT ", "OR ", "ALL", "MIME", "HEADER.FIELDS (A)", "TEXT", "\r\n", "é",
        ].map { Array($0.utf8) }
        await propertyCheck(
            count: 3000,
            input: Gen.int(in: 0...(lines.count - 1)),
            Gen.int(in: 0...400),
            Gen.int(in: 0...2),
            Gen.int(in: 0...(fragments.count - 1))
        ) { lineIndex, position, operation, fragmentIndex in
            var bytes = lines[lineIndex]
            let at = position % (bytes.count + 1)
            let fragment = fragments[fragmentIndex]
            switch operation {
            case 0: bytes.insert(contentsOf: fragment, at: at)
            case 1: bytes.removeSubrange(at..<min(bytes.count, at + fragment.count))
            default: bytes.replaceSubrange(at..<min(bytes.count, at + fragment.count), with: fragment)
            }
            guard let parsed = try? IMAPCommandParser.parse(ByteBuffer(bytes: bytes)) else { return }
            var wire = ByteBuffer()
            parsed.write(into: &wire)
            wire.moveWriterIndex(to: wire.writerIndex - 2)
            #expect((try? IMAPCommandParser.parse(wire)) == parsed, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }
}
