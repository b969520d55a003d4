import NIOCore
import WireCore

/// A reply: a three-digit code, an RFC 3463 enhanced status code, and text lines.
///
/// ```
/// S: 250-mail.example.com
/// S: 250 PIPELINING
/// ```
public struct LMTPReply: Hashable, Sendable, CustomStringConvertible {
    public var code: Int
    /// Enhanced status code such as `2.1.5`, or nil (e.g. the greeting and LHLO lines).
    public var enhancedCode: String?
    public var lines: [String]

    public init(_ code: Int, _ enhancedCode: String?, _ text: String) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = [text]
    }

    public init(code: Int, enhancedCode: String?, lines: [String]) {
        self.code = code
        self.enhancedCode = enhancedCode
        self.lines = lines.isEmpty ? [""] : lines
    }

    /// Whether the reply is a success (2xx) or intermediate (3xx).
    public var isPositive: Bool { code < 400 }

    public var description: String {
        "\(code)" + (enhancedCode.map { " \($0)" } ?? "") + " " + lines.joined(separator: " / ")
    }
}

// MARK: - Encoding

extension LMTPReply {
    /// Writes the reply, one line per text line, `code-` on all but the last.
    public func write(into buffer: inout ByteBuffer) {
        for (index, line) in lines.enumerated() {
            buffer.writeString(String(code))
            buffer.writeString(index == lines.count - 1 ? " " : "-")
            if let enhancedCode {
                buffer.writeString(enhancedCode)
                buffer.writeString(" ")
            }
            // Text is ours, but never let a CR or LF in it break the framing.
            var safe = String.UnicodeScalarView()
            for scalar in line.unicodeScalars { safe.append(scalar == "\r" || scalar == "\n" ? " " : scalar) }
            buffer.writeString(String(safe))
            buffer.writeString("\r\n")
        }
    }
}

// MARK: - Parsing (client side)

/// Assembles replies from lines, as a client (tests, the future proxy) reads them.
public struct LMTPReplyParser: Sendable {
    private var pending: [String] = []
    private var pendingCode: Int?

    public init() {}

    /// Feeds one line (without CRLF); returns a reply once its last line arrived.
    ///
    /// ```
    /// reply-line = 3DIGIT ( "-" / SP ) [ enhanced-code SP ] text
    /// ```
    public mutating func lineReceived(_ line: ByteBuffer) throws(LMTPParseError) -> LMTPReply? {
        let text = String(decoding: line.readableBytesView, as: UTF8.self)
        let chars = Array(text.utf8)
        guard chars.count >= 3, let code = Int(String(decoding: chars[0..<3], as: UTF8.self)) else {
            throw .syntax("reply line without a code: \(text)")
        }
        if let pendingCode, pendingCode != code { throw .syntax("code changed inside a multi-line reply") }
        pendingCode = code
        let separator: UInt8 = chars.count > 3 ? chars[3] : UInt8(ascii: " ")
        let body = chars.count > 4 ? String(decoding: chars[4...], as: UTF8.self) : ""
        pending.append(body)
        guard separator == UInt8(ascii: " ") else { return nil }
        defer {
            pending = []
            pendingCode = nil
        }
        // The enhanced code, when present, leads every line; take it from the last.
        var enhanced: String?
        var lines = pending
        if let first = lines.last?.split(separator: " ", maxSplits: 1).first, Self.isEnhancedCode(first) {
            enhanced = String(first)
            lines = lines.map { line in
                line.hasPrefix(first + " ") ? String(line.dropFirst(first.count + 1)) : (line == first ? "" : line)
            }
        }
        return LMTPReply(code: code, enhancedCode: enhanced, lines: lines)
    }

    static func isEnhancedCode(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy(\.isNumber) }
            && ["2", "4", "5"].contains(parts[0])
    }
}
