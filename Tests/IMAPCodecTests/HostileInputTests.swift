import IMAPCodec
import MailMessage
import NIOCore
import PropertyBased
import Testing

/// Random and adversarial bytes through every IMAP-side parser: they must never crash, must
/// always consume their input, and must keep their limits. (libFuzzer targets are issue 3's.)
@Suite struct HostileInputTests {
    /// Bytes biased towards the characters that drive the grammars.
    static let hostile = Gen.element(
        of: Array("a1 {}+~()[]\"\\*%:;,<>@=?\r\n\t\u{0}\u{7f}0123456789-".utf8) + [0xC3, 0xFF]
    )
    .map { $0 ?? 0x61 }.array(of: 0...300)

    @Test func frameDecoderConsumesEverythingAndNeverExceedsLimits() async {
        await propertyCheck(count: 500, input: Self.hostile, Gen.int(in: 1...17)) { bytes, chunk in
            var decoder = IMAPFrameDecoder(
                limits: .init(maxLineLength: 64, maxLiteralSize: 40, maxCommandSize: 200, maxLiterals: 3)
            )
            var buffer = ByteBuffer()
            var offset = 0
            while offset < bytes.count {
                buffer.writeBytes(bytes[offset..<min(offset + chunk, bytes.count)])
                offset += chunk
                for event in decoder.decode(&buffer) {
                    if case .command(let frame) = event {
                        #expect(frame.readableBytes <= 200 + 64)
                        _ = try? IMAPCommandParser.parse(frame)
                    }
                }
                #expect(buffer.readableBytes <= 64 + 2, "the decoder never holds more than a line")
                buffer.discardReadBytes()
            }
        }
    }

    @Test func commandParserNeverCrashes() async {
        await propertyCheck(count: 1000, input: Self.hostile) { bytes in
            _ = try? IMAPCommandParser.parse(ByteBuffer(bytes: Array("t ".utf8) + bytes))
            _ = try? IMAPCommandParser.parse(ByteBuffer(bytes: Array("t LOGIN ".utf8) + bytes))
            _ = try? IMAPCommandParser.parse(ByteBuffer(bytes: Array("t UID EXPUNGE ".utf8) + bytes))
            _ = try? IMAPCommandParser.parse(ByteBuffer(bytes: Array("t STATUS ".utf8) + bytes))
        }
    }

    @Test func messageParsersNeverCrash() async {
        await propertyCheck(count: 500, input: Self.hostile) { bytes in
            let text = String(decoding: bytes, as: UTF8.self)
            _ = AddressParser.parse(text)
            _ = ContentType(parsing: text)
            _ = EncodedWord.decode(text)
            let message = Array("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n".utf8) + bytes
            let part = MIMEPart.parse(message)
            var buffer = ByteBuffer()
            IMAPWriter.writeBodyStructure(BodyStructure(part, in: message), extensions: true, into: &buffer)
            IMAPWriter.writeEnvelope(Envelope(header: part.header), into: &buffer)
            #expect(buffer.readableBytes > 0)
        }
    }
}
