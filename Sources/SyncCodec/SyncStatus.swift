import NIOCore

/// A csync status line, which ends every response (sync-protocol §1.5). There are no tags.
///
/// ```
/// S: OK success
/// S: NO IMAP_SYNC_CHECKSUM Checksum Failure
/// S: NO IMAP_PROTOCOL_BAD_PARAMETERS
/// S: BAD IMAP_PROTOCOL_ERROR Unrecognized command
/// S: BYE shutting down
/// ```
public struct SyncStatus: Hashable, Sendable {
    /// The status word.
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        case ok = "OK"
        case no = "NO"
        case bad = "BAD"
        case bye = "BYE"
    }

    public var kind: Kind
    /// The `IMAP_…` code word after the status, if any.
    public var code: SyncResponseCode?
    /// The human-readable rest of the line (possibly empty).
    public var text: String

    public init(_ kind: Kind, code: SyncResponseCode? = nil, text: String = "") {
        self.kind = kind
        self.code = code
        self.text = text
    }

    /// `OK success`: the reply to a GET, APPLY or RESTORE that worked.
    public static let success = SyncStatus(.ok, text: "success")

    /// `NO <code> <Cyrus's text for it>`, e.g. `NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox`.
    public static func no(_ code: SyncResponseCode) -> SyncStatus {
        SyncStatus(.no, code: code, text: code.standardText ?? "")
    }

    /// Parses the line after its status word.
    ///
    /// ```
    /// status-line = ("OK" / "NO" / "BAD" / "BYE") [SP [code SP] text]   ; case-insensitive word
    /// code        = "IMAP_" 1*(UPPER / DIGIT / "_")
    /// ```
    static func parse(kind: Kind, rest: [UInt8]) -> SyncStatus {
        let text = String(decoding: rest, as: UTF8.self)
        let word = text.prefix { $0 != " " }
        guard let code = SyncResponseCode(rawValue: String(word)) else { return SyncStatus(kind, text: text) }
        return SyncStatus(kind, code: code, text: String(text.dropFirst(word.count + 1)))
    }
}

// MARK: - Encoding

extension SyncStatus {
    /// Writes the status line with its CRLF; CR and LF in the text are replaced by spaces.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeString(kind.rawValue)
        if let code {
            buffer.writeString(" " + code.rawValue)
        }
        if !text.isEmpty {
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeString(SyncText.singleLine(text))
        }
        buffer.writeString("\r\n")
    }
}

/// Text written on a line of its own must not end the line early.
enum SyncText {
    static func singleLine(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }) else { return text }
        return String(text.map { $0 == "\r" || $0 == "\n" || $0 == "\r\n" ? " " : $0 })
    }
}
