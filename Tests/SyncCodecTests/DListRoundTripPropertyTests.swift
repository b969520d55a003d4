import NIOCore
import PropertyBased
import SessionTestSupport
import SyncCodec
import Testing

/// Arbitrary dlist values, written as a master writes commands or a replica writes responses,
/// come back through the decoder (in chunks of any size) as the same values, modulo the
/// documented normalisation: a string Cyrus writes as a literal reads back as `.literal`, and
/// a canonical decimal atom as `.number`.
@Suite struct DListRoundTripPropertyTests {
    static let alphabet = Array("aZ09 \t\"\\%{}()*+NIL.$[]".utf8) + [0, 0x1F, 0x7F, 0xC3, 0xA9, 13, 10]

    static func bytes(_ rng: inout SplitMix, max: Int = 12) -> [UInt8] {
        (0..<Int.random(in: 0...max, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
    }

    static func key(_ rng: inout SplitMix) -> String {
        // Keys are text: any ASCII from the alphabet (quoted or literal when needed).
        String(decoding: bytes(&rng, max: 6).filter { $0 < 0x80 }, as: UTF8.self)
    }

    /// A random value and the bodies of its file literals, in order.
    static func value(_ rng: inout SplitMix, depth: Int, files: inout [[UInt8]]) -> DList {
        let pick = Int.random(in: 0..<(depth > 0 ? 10 : 7), using: &rng)
        switch pick {
        case 0: return .null
        case 1: return .number(UInt64.random(in: 0...UInt64.max, using: &rng) >> UInt64.random(in: 0...63, using: &rng))
        case 2, 3: return .string(bytes(&rng))
        case 4: return .literal(bytes(&rng))
        case 5:
            let name = String(
                decoding: (0..<Int.random(in: 1...6, using: &rng)).map { _ in UInt8.random(in: 0x61...0x7A, using: &rng)
                },
                as: UTF8.self
            )
            return .flag("\\" + name)
        case 6:
            let body = bytes(&rng, max: 40)
            files.append(body)
            let guid = (0..<40).map { _ in "0123456789abcdef".randomElement(using: &rng)! }
            let partition = ["default", "p2", "my part", "a\"b"].randomElement(using: &rng)!
            return .file(FileLiteral(partition: partition, guidText: String(guid), size: UInt32(body.count)))
        case 7, 8:
            return .list(
                (0..<Int.random(in: 0...4, using: &rng)).map { _ in value(&rng, depth: depth - 1, files: &files) }
            )
        default:
            return .kvlist(
                (0..<Int.random(in: 0...4, using: &rng)).map { _ in
                    DList.Item(key(&rng), value(&rng, depth: depth - 1, files: &files))
                }
            )
        }
    }

    /// What the decoder reads back for a value the writer wrote.
    static func normalized(_ value: DList) -> DList {
        switch value {
        case .string(let bytes):
            if DListGrammar.stringForm(bytes) == .literal { return .literal(bytes) }
            if DListGrammar.stringForm(bytes) == .atom, let number = canonicalNumber(bytes) { return .number(number) }
            return value
        case .list(let values): return .list(values.map(normalized))
        case .kvlist(let items): return .kvlist(items.map { DList.Item($0.key, normalized($0.value)) })
        default: return value
        }
    }

    static func canonicalNumber(_ bytes: [UInt8]) -> UInt64? {
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            bytes == Array(String(UInt64(String(decoding: bytes, as: UTF8.self)) ?? 0).utf8)
        else { return nil }
        return UInt64(String(decoding: bytes, as: UTF8.self))
    }

    @Test func commandsRoundTrip() async {
        await propertyCheck(input: Gen.uint64(), Gen.int(in: 1...17)) { seed, chunk in
            var rng = SplitMix(state: seed)
            var files: [[UInt8]] = []
            let value = Self.value(&rng, depth: 3, files: &files)
            let command = SyncCommand.apply(.init("MAILBOX", value))
            var wire = ByteBuffer()
            var next = files[...]
            command.write(into: &wire) { _ in next.popFirst() ?? [] }
            let events = SyncTestSupport.decode(Array(wire.readableBytesView), role: .replica, chunk: chunk)
            #expect(SyncTestSupport.errors(events).isEmpty, "\(value)")
            #expect(SyncTestSupport.commands(events) == [.apply(.init("MAILBOX", Self.normalized(value)))])
            #expect(SyncTestSupport.fileBodies(events) == files)
        }
    }

    @Test func responsesRoundTrip() async {
        await propertyCheck(input: Gen.uint64(), Gen.int(in: 1...17)) { seed, chunk in
            var rng = SplitMix(state: seed)
            var files: [[UInt8]] = []
            let value = Self.value(&rng, depth: 3, files: &files)
            var wire = ByteBuffer(string: "* OK banner\r\n")
            var next = files[...]
            SyncResponse.data(.init("MAILBOX", value)).write(into: &wire) { _ in next.popFirst() ?? [] }
            SyncResponse.status(.no(.syncChecksum)).write(into: &wire)
            let events = SyncTestSupport.decode(Array(wire.readableBytesView), role: .master, chunk: chunk)
            #expect(SyncTestSupport.errors(events).isEmpty, "\(value)")
            #expect(
                SyncTestSupport.responses(events) == [
                    .greeting("banner"), .data(.init("MAILBOX", Self.normalized(value))), .status(.no(.syncChecksum)),
                ]
            )
            #expect(SyncTestSupport.fileBodies(events) == files)
        }
    }

    /// Any string's bytes come back exactly, whichever form the writer chose.
    @Test func stringBytesRoundTrip() async {
        let text = Gen.element(of: Self.alphabet).map { $0 ?? 0x61 }.array(of: 0...1100)
        await propertyCheck(input: text) { bytes in
            let events = SyncTestSupport.decode(
                {
                    var wire = ByteBuffer()
                    SyncCommand.apply(.init("ANNOTATION", .kvlist([.init("VALUE", .string(bytes))]))).write(into: &wire)
                    return Array(wire.readableBytesView)
                }(),
                role: .replica
            )
            guard case .apply(let item) = SyncTestSupport.commands(events).first else {
                Issue.record("no command for \(bytes)")
                return
            }
            #expect(item.value["VALUE"]?.bytesValue == bytes)
        }
    }
}
