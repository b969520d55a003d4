/// The ENVELOPE of a message (RFC 9051 §7.5.2): raw header text, parsed address lists.
public struct Envelope: Hashable, Sendable {
    public var date: String?
    public var subject: String?
    public var from: [AddressItem]
    public var sender: [AddressItem]
    public var replyTo: [AddressItem]
    public var to: [AddressItem]
    public var cc: [AddressItem]
    public var bcc: [AddressItem]
    public var inReplyTo: String?
    public var messageID: String?

    /// Builds the envelope from a header. Sender and Reply-To default to From when absent or
    /// empty, as RFC 9051 requires.
    public init(header: MessageHeader) {
        func text(_ name: String) -> String? { header.first(name).map(\.unfoldedValue) }
        func addresses(_ name: String) -> [AddressItem] {
            header.first(name).map { AddressParser.parse($0.unfoldedValue) } ?? []
        }
        date = text("Date")
        subject = text("Subject")
        from = addresses("From")
        let senderList = addresses("Sender")
        sender = senderList.isEmpty ? from : senderList
        let replyList = addresses("Reply-To")
        replyTo = replyList.isEmpty ? from : replyList
        to = addresses("To")
        cc = addresses("Cc")
        bcc = addresses("Bcc")
        inReplyTo = text("In-Reply-To")
        messageID = text("Message-ID")
    }
}
