import MailCore
import NIOCore

/// The per-message arguments of APPEND (RFC 9051 §6.3.12, RFC 3502 MULTIAPPEND):
/// `[SP flag-list] [SP date-time] SP literal`.
///
/// A server streams the message literal (``IMAPFrameDecoder`` emits it in chunks); this type
/// carries the arguments before it, and `bytes` only when a client encodes the command.
public struct AppendMessage: Hashable, Sendable {
    public var flags: [Flag]
    /// The `date-time` as written, e.g. `17-Jul-1996 02:44:25 -0700`.
    public var internalDate: String?
    public var bytes: ByteBuffer

    public init(flags: [Flag] = [], internalDate: String? = nil, bytes: ByteBuffer = ByteBuffer()) {
        self.flags = flags
        self.internalDate = internalDate
        self.bytes = bytes
    }
}

// MARK: - Encoding

extension AppendMessage {
    /// `[SP flag-list] [SP date-time] SP literal`; a message containing NUL goes as literal8.
    func write(into buffer: inout ByteBuffer) {
        if !flags.isEmpty { buffer.writeString(" (\(flags.map(\.name).joined(separator: " ")))") }
        if let internalDate { buffer.writeString(" \"\(internalDate)\"") }
        let binary = bytes.readableBytesView.contains(0)
        buffer.writeString(" \(binary ? "~" : ""){\(bytes.readableBytes)}\r\n")
        var copy = bytes
        buffer.writeBuffer(&copy)
    }
}
