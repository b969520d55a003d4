import MailMessage
import Testing

@Suite struct MessageHeaderTests {
    @Test func unfoldsAndFindsFieldsCaseInsensitively() {
        let text = "Return-Path: <a@b>\r\nSubject: one\r\n two\r\nX-Empty:\r\nmessage-id: <1@x>\r\n\r\nbody\r\n"
        let header = MessageHeader(parsing: Array(text.utf8))
        #expect(header.fields.map(\.name) == ["Return-Path", "Subject", "X-Empty", "message-id"])
        #expect(header.first("subject")?.unfoldedValue == "one two")
        #expect(header.first("Message-ID")?.unfoldedValue == "<1@x>")
        #expect(header.first("x-empty")?.unfoldedValue == "")
        #expect(Array(text.utf8)[header.bodyOffset...] == Array("body\r\n".utf8)[...])
    }

    @Test func bareLFAndMissingBlankLine() {
        let header = MessageHeader(parsing: Array("A: 1\nB: 2\nnot a header\n".utf8))
        #expect(header.fields.count == 2)
        #expect(header.bodyOffset == 10)
    }

    @Test func keepsEightBitBytesAndRepeatedFields() {
        let bytes: [UInt8] =
            Array("Received: x\r\nReceived: y\r\nSubject: caf".utf8) + [0xC3, 0xA9] + Array("\r\n\r\n".utf8)
        let header = MessageHeader(parsing: bytes)
        #expect(header.all("received").map(\.unfoldedValue) == ["x", "y"])
        #expect(header.first("Subject")?.unfoldedValue == "café")
    }

    @Test func fieldsBeyondTheLimitAreSkippedButTheHeaderStillEnds() {
        let text = String(repeating: "X: y\r\n", count: MessageHeader.maxFields + 5) + "\r\nbody"
        let header = MessageHeader(parsing: Array(text.utf8))
        #expect(header.fields.count == MessageHeader.maxFields)
        #expect(header.bodyOffset == text.utf8.count - 4)
    }

    @Test func slicesAreReadInPlace() {
        let bytes = Array("junk\r\nA: 1\r\n\r\nbody".utf8)
        let header = MessageHeader(parsing: bytes[6...])
        #expect(header.fields.map(\.name) == ["A"])
        #expect(header.bodyOffset == 8, "offsets are relative to the slice")
    }

    @Test func emptyInputHasNoFields() {
        let header = MessageHeader(parsing: [UInt8]())
        #expect(header.fields.isEmpty && header.bodyOffset == 0)
    }
}
