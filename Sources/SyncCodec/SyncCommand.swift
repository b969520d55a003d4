import NIOCore

/// A csync command, master → replica (sync-protocol §1.4). Commands carry no tag and are
/// strictly sequential: the master waits for the status line before sending the next one.
///
/// ```
/// C: APPLY RESERVE %(PARTITION default MBOXNAME (user.alice) GUID (6cde83a0…80cc))
/// S: * MISSING (6cde83a0…80cc)
/// S: OK success
/// ```
public enum SyncCommand: Hashable, Sendable {
    /// `GET <key> <value>`: USER, META, MAILBOXES, UNIQUEIDS, FULLMAILBOX, QUOTA, ANNOTATION,
    /// FETCH, FETCH_SIEVE (§3.3). The decoder upper-cases the key, as Cyrus does before dispatch.
    case get(DList.Item)
    /// `APPLY <key> <value>` (§3.4). File literals of `APPLY MESSAGE` appear as
    /// ``DList/file(_:)`` headers; their bytes were streamed before this event.
    case apply(DList.Item)
    /// `RESTORE <key> <value>` (§3.5), used by Cyrus's backup restore tool.
    case restore(DList.Item)
    /// `AUTHENTICATE <mechanism> [<initial response>]` (§1.6); `=` is an empty initial response.
    case authenticate(mechanism: String, initialResponse: String?)
    /// `STARTTLS` (§1.7).
    case startTLS
    /// `COMPRESS <algorithm>`; only `DEFLATE` is defined (§1.8).
    case compress(algorithm: String)
    /// `NOOP` → `OK Noop completed`.
    case noop
    /// `RESTART` → `OK Restarting`: the replica drops its reserve list.
    case restart
    /// `EXIT` → `OK Finished`, then the replica closes.
    case exit

    /// The command word, upper case, e.g. `APPLY`.
    public var verb: String {
        switch self {
        case .get: "GET"
        case .apply: "APPLY"
        case .restore: "RESTORE"
        case .authenticate: "AUTHENTICATE"
        case .startTLS: "STARTTLS"
        case .compress: "COMPRESS"
        case .noop: "NOOP"
        case .restart: "RESTART"
        case .exit: "EXIT"
        }
    }
}

// MARK: - Encoding

extension SyncCommand {
    /// Encodes the command as a Cyrus master sends it: literals non-synchronising `{n+}`
    /// (§2.4), CRLF at the end. File-literal bodies are left as ``SyncWireSegment/fileBody(_:)``
    /// segments for the caller to stream.
    public func writeSegments() -> [SyncWireSegment] {
        var writer = DListWriter(literals: .nonSynchronizing)
        switch self {
        case .get(let item), .apply(let item), .restore(let item):
            // The top-level key is an atom read up to the space, so it is written raw.
            writer.writeRaw(verb + " " + item.key + " ")
            writer.write(item.value)
        case .authenticate(let mechanism, let initialResponse):
            writer.writeRaw("AUTHENTICATE " + SyncText.singleLine(mechanism))
            if let initialResponse {
                writer.writeRaw(" " + (initialResponse.isEmpty ? "=" : SyncText.singleLine(initialResponse)))
            }
        case .compress(let algorithm):
            writer.writeRaw("COMPRESS " + SyncText.singleLine(algorithm))
        case .startTLS, .noop, .restart, .exit:
            writer.writeRaw(verb)
        }
        writer.writeRaw("\r\n")
        return writer.finish()
    }

    /// Encodes the command into `buffer`, with the bytes `fileBody` returns for each file literal.
    public func write(into buffer: inout ByteBuffer, fileBody: (FileLiteral) -> [UInt8] = { _ in [] }) {
        for segment in writeSegments() {
            switch segment {
            case .bytes(var bytes): buffer.writeBuffer(&bytes)
            case .fileBody(let file): buffer.writeBytes(fileBody(file))
            }
        }
    }
}
