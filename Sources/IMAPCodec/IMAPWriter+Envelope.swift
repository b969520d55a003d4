import MailMessage
import NIOCore

// MARK: - Encoding of ENVELOPE and BODY/BODYSTRUCTURE (RFC 9051 §7.5.2, §9)

extension IMAPWriter {
    /// `nstring = string / nil`
    public static func writeNString(_ text: String?, into buffer: inout ByteBuffer) {
        guard let text else {
            buffer.writeString("NIL")
            return
        }
        writeString(Array(text.utf8), into: &buffer)
    }

    /// ```
    /// envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP env-to SP
    ///            env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"
    /// ```
    public static func writeEnvelope(_ envelope: Envelope, into buffer: inout ByteBuffer) {
        buffer.writeString("(")
        writeNString(envelope.date, into: &buffer)
        buffer.writeString(" ")
        writeNString(envelope.subject, into: &buffer)
        for list in [envelope.from, envelope.sender, envelope.replyTo, envelope.to, envelope.cc, envelope.bcc] {
            buffer.writeString(" ")
            writeAddresses(list, into: &buffer)
        }
        buffer.writeString(" ")
        writeNString(envelope.inReplyTo, into: &buffer)
        buffer.writeString(" ")
        writeNString(envelope.messageID, into: &buffer)
        buffer.writeString(")")
    }

    /// `"(" 1*address ")" / nil`; `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`
    static func writeAddresses(_ items: [AddressItem], into buffer: inout ByteBuffer) {
        guard !items.isEmpty else {
            buffer.writeString("NIL")
            return
        }
        buffer.writeString("(")
        for item in items {
            buffer.writeString("(")
            switch item {
            case .mailbox(let name, let route, let mailbox, let host):
                for (index, field) in [name, route, mailbox, host].enumerated() {
                    if index > 0 { buffer.writeString(" ") }
                    writeNString(field, into: &buffer)
                }
            case .groupStart(let name):
                buffer.writeString("NIL NIL ")
                writeNString(name, into: &buffer)
                buffer.writeString(" NIL")
            case .groupEnd:
                buffer.writeString("NIL NIL NIL NIL")
            }
            buffer.writeString(")")
        }
        buffer.writeString(")")
    }

    /// BODY (`extensions: false`) or BODYSTRUCTURE (`extensions: true`).
    public static func writeBodyStructure(_ body: BodyStructure, extensions: Bool, into buffer: inout ByteBuffer) {
        buffer.writeString("(")
        switch body {
        case .multipart(let parts, let subtype, let parameters, let disposition, let language, let location):
            // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
            for part in parts { writeBodyStructure(part, extensions: extensions, into: &buffer) }
            buffer.writeString(" ")
            writeString(Array(subtype.utf8), into: &buffer)
            if extensions {
                buffer.writeString(" ")
                writeParameters(parameters, into: &buffer)
                writeExtensionTail(disposition, language, location, into: &buffer)
            }
        case .single(let part):
            // body-type-1part = (body-type-basic / body-type-msg / body-type-text) [SP body-ext-1part]
            writeString(Array(part.type.utf8), into: &buffer)
            buffer.writeString(" ")
            writeString(Array(part.subtype.utf8), into: &buffer)
            buffer.writeString(" ")
            writeParameters(part.parameters, into: &buffer)
            buffer.writeString(" ")
            writeNString(part.id, into: &buffer)
            buffer.writeString(" ")
            writeNString(part.description, into: &buffer)
            buffer.writeString(" ")
            writeString(Array(part.encoding.utf8), into: &buffer)
            buffer.writeString(" \(part.octets)")
            if let message = part.message {
                buffer.writeString(" ")
                writeEnvelope(message.envelope, into: &buffer)
                buffer.writeString(" ")
                writeBodyStructure(message.body, extensions: extensions, into: &buffer)
            }
            if let lines = part.lines { buffer.writeString(" \(lines)") }
            if extensions {
                // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
                buffer.writeString(" ")
                writeNString(part.md5, into: &buffer)
                writeExtensionTail(part.disposition, part.language, part.location, into: &buffer)
            }
        }
        buffer.writeString(")")
    }

    /// `body-fld-param = "(" string SP string *(SP string SP string) ")" / nil`
    static func writeParameters(_ parameters: [(String, String)], into buffer: inout ByteBuffer) {
        guard !parameters.isEmpty else {
            buffer.writeString("NIL")
            return
        }
        buffer.writeString("(")
        for (index, pair) in parameters.enumerated() {
            if index > 0 { buffer.writeString(" ") }
            writeString(Array(pair.0.utf8), into: &buffer)
            buffer.writeString(" ")
            writeString(Array(pair.1.utf8), into: &buffer)
        }
        buffer.writeString(")")
    }

    /// `SP body-fld-dsp SP body-fld-lang SP body-fld-loc`
    static func writeExtensionTail(
        _ disposition: BodyStructure.Disposition?,
        _ language: [String]?,
        _ location: String?,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeString(" ")
        if let disposition {
            buffer.writeString("(")
            writeString(Array(disposition.value.utf8), into: &buffer)
            buffer.writeString(" ")
            var pairs: [(String, String)] = []
            var index = 0
            while index + 1 < disposition.parameters.count {
                pairs.append((disposition.parameters[index], disposition.parameters[index + 1]))
                index += 2
            }
            writeParameters(pairs, into: &buffer)
            buffer.writeString(")")
        } else {
            buffer.writeString("NIL")
        }
        buffer.writeString(" ")
        switch language {
        case nil: buffer.writeString("NIL")
        case .some(let tags) where tags.count == 1: writeString(Array(tags[0].utf8), into: &buffer)
        case .some(let tags):
            buffer.writeString("(")
            for (index, tag) in tags.enumerated() {
                if index > 0 { buffer.writeString(" ") }
                writeString(Array(tag.utf8), into: &buffer)
            }
            buffer.writeString(")")
        }
        buffer.writeString(" ")
        writeNString(location, into: &buffer)
    }
}
