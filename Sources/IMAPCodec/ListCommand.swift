import NIOCore

/// LIST as RFC 5258 (LIST-EXTENDED), RFC 6154 (SPECIAL-USE) and RFC 5819 (LIST-STATUS) extend it.
public struct ListCommand: Hashable, Sendable {
    public enum SelectOption: String, Hashable, Sendable {
        case subscribed = "SUBSCRIBED"
        case remote = "REMOTE"
        case recursiveMatch = "RECURSIVEMATCH"
        case specialUse = "SPECIAL-USE"
    }

    public enum ReturnOption: Hashable, Sendable {
        case subscribed
        case children
        case specialUse
        /// `STATUS (items)` (RFC 5819)
        case status([String])
        /// `MYRIGHTS` (RFC 8440)
        case myRights
    }

    public var reference: [UInt8]
    /// One or more patterns (`mbox-or-pat`); several only in the parenthesised form.
    public var patterns: [[UInt8]]
    public var selectOptions: [SelectOption]
    /// nil when the client wrote no RETURN clause.
    public var returnOptions: [ReturnOption]?

    public init(
        reference: [UInt8],
        patterns: [[UInt8]],
        selectOptions: [SelectOption] = [],
        returnOptions: [ReturnOption]? = nil
    ) {
        self.reference = reference
        self.patterns = patterns
        self.selectOptions = selectOptions
        self.returnOptions = returnOptions
    }
}

// MARK: - Encoding

extension ListCommand {
    /// `[(select-opts) ]reference mbox-or-pat[ RETURN (return-opts)]`
    func write(into buffer: inout ByteBuffer) {
        if !selectOptions.isEmpty {
            buffer.writeString("(\(selectOptions.map(\.rawValue).joined(separator: " "))) ")
        }
        IMAPWriter.writeAString(reference, into: &buffer)
        buffer.writeString(" ")
        if patterns.count == 1 {
            IMAPWriter.writeListMailbox(patterns[0], into: &buffer)
        } else {
            buffer.writeString("(")
            for (index, pattern) in patterns.enumerated() {
                if index > 0 { buffer.writeString(" ") }
                IMAPWriter.writeListMailbox(pattern, into: &buffer)
            }
            buffer.writeString(")")
        }
        if let returnOptions {
            let names = returnOptions.map { option in
                switch option {
                case .subscribed: "SUBSCRIBED"
                case .children: "CHILDREN"
                case .specialUse: "SPECIAL-USE"
                case .myRights: "MYRIGHTS"
                case .status(let items): "STATUS (\(items.joined(separator: " ")))"
                }
            }
            buffer.writeString(" RETURN (\(names.joined(separator: " ")))")
        }
    }
}

extension IMAPWriter {
    /// `list-mailbox = 1*list-char / string`: wildcards stay bare.
    public static func writeListMailbox(_ bytes: [UInt8], into buffer: inout ByteBuffer) {
        if !bytes.isEmpty, bytes.allSatisfy(IMAPGrammar.isListChar) {
            buffer.writeBytes(bytes)
        } else {
            writeString(bytes, into: &buffer)
        }
    }
}
