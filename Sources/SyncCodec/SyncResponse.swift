import NIOCore

/// One line (with its literals) of what a replica sends a master (sync-protocol §1.3, §1.5).
///
/// ```
/// S: * SASL PLAIN                      → .capability(name: "SASL", parameters: ["PLAIN"])
/// S: * OK vm Cyrus sync server 3.6.1   → .greeting("vm Cyrus sync server 3.6.1")
/// S: * MISSING (6cde83a0…80cc)         → .data(Item("MISSING", .list([…])))
/// S: + <base64>                        → .continuation("<base64>")
/// S: OK success                        → .status(.success)
/// S: * Fatal error: <text>             → .fatalError("<text>")
/// ```
public enum SyncResponse: Hashable, Sendable {
    /// A banner line `* NAME [param …]` before the greeting; the decoder reads these only
    /// while it expects a banner (at connect and after STARTTLS).
    case capability(name: String, parameters: [String])
    /// `* OK <text>`: the last banner line.
    case greeting(String)
    /// `* <KEY> <value>`: one data line of a response.
    case data(DList.Item)
    /// `+ <text>`: a SASL challenge (text may be empty).
    case continuation(String)
    /// A status line, which ends a response.
    case status(SyncStatus)
    /// `* Fatal error: <text>`: the replica is about to exit and close the connection.
    case fatalError(String)
}

// MARK: - Encoding

extension SyncResponse {
    /// Encodes the response as a Cyrus replica sends it: literals synchronising `{n}` and never
    /// followed by a continuation request (§2.4), CRLF at the end. File-literal bodies (only in
    /// `* MESSAGE %{…}`, the GET FETCH reply) are left as ``SyncWireSegment/fileBody(_:)``.
    public func writeSegments() -> [SyncWireSegment] {
        var writer = DListWriter(literals: .synchronizing)
        switch self {
        case .capability(let name, let parameters):
            writer.writeRaw("* " + SyncText.singleLine(([name] + parameters).joined(separator: " ")))
        case .greeting(let text):
            writer.writeRaw("* OK " + SyncText.singleLine(text))
        case .data(let item):
            // The top-level key is an atom read up to the space, so it is written raw.
            writer.writeRaw("* " + item.key + " ")
            writer.write(item.value)
        case .continuation(let text):
            writer.writeRaw("+ " + SyncText.singleLine(text))
        case .status(let status):
            var line = ByteBuffer()
            status.write(into: &line)
            line.moveWriterIndex(to: line.writerIndex - 2)
            writer.writeRaw(String(decoding: line.readableBytesView, as: UTF8.self))
        case .fatalError(let text):
            writer.writeRaw("* Fatal error: " + SyncText.singleLine(text))
        }
        writer.writeRaw("\r\n")
        return writer.finish()
    }

    /// Encodes the response into `buffer`, with the bytes `fileBody` returns for each file literal.
    public func write(into buffer: inout ByteBuffer, fileBody: (FileLiteral) -> [UInt8] = { _ in [] }) {
        for segment in writeSegments() {
            switch segment {
            case .bytes(var bytes): buffer.writeBuffer(&bytes)
            case .fileBody(let file): buffer.writeBytes(fileBody(file))
            }
        }
    }
}
