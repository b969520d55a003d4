import NIOCore
import SyncCodec

/// Shared helpers: feeding a decoder in chunks, merging streamed file bytes, re-encoding.
enum SyncTestSupport {
    /// Decodes `bytes` fed `chunk` bytes at a time; resumes after every pause (and expects a
    /// SASL response after an AUTHENTICATE without an initial response when `sasl` is set).
    static func decode(
        _ bytes: [UInt8],
        role: SyncDecoder.Role,
        chunk: Int = Int.max,
        limits: SyncLimits = SyncLimits(),
        literals: SyncDecoder.SynchronizingLiterals = .readWithoutContinuation,
        skipBanner: Bool = false
    ) -> [SyncDecoder.Event] {
        var decoder = SyncDecoder(role: role, limits: limits, synchronizingLiterals: literals)
        if skipBanner {
            var banner = ByteBuffer(string: "* OK test\r\n")
            _ = decoder.decode(&banner)
        }
        var input = ByteBuffer()
        var events: [SyncDecoder.Event] = []
        var offset = 0
        repeat {
            let end = chunk >= bytes.count - offset ? bytes.count : offset + chunk
            input.writeBytes(bytes[offset..<end])
            offset = end
            while true {
                let found = decoder.decode(&input)
                events += found
                guard case .commandReceived = found.last else { break }
                decoder.resume()
            }
            input.discardReadBytes()
        } while offset < bytes.count
        return events
    }

    /// Joins adjacent file-byte events, which depend on how the input was chunked.
    static func merged(_ events: [SyncDecoder.Event]) -> [SyncDecoder.Event] {
        var out: [SyncDecoder.Event] = []
        for event in events {
            if case .fileLiteralBytesReceived(var more) = event, case .fileLiteralBytesReceived(var bytes) = out.last {
                bytes.writeBuffer(&more)
                out[out.count - 1] = .fileLiteralBytesReceived(bytes)
            } else {
                out.append(event)
            }
        }
        return out
    }

    /// The file bodies streamed in `events`, in order.
    static func fileBodies(_ events: [SyncDecoder.Event]) -> [[UInt8]] {
        var files: [[UInt8]] = []
        for event in events {
            switch event {
            case .fileLiteralStarted: files.append([])
            case .fileLiteralBytesReceived(let bytes): files[files.count - 1] += Array(bytes.readableBytesView)
            default: break
            }
        }
        return files
    }

    /// Re-encodes every command or response in `events`, file bodies included, as one stream.
    static func reencode(_ events: [SyncDecoder.Event]) -> [UInt8] {
        var files = fileBodies(events)[...]
        var out: [UInt8] = []
        func append(_ segments: [SyncWireSegment]) {
            for segment in segments {
                switch segment {
                case .bytes(let bytes): out += Array(bytes.readableBytesView)
                case .fileBody: out += files.popFirst() ?? []
                }
            }
        }
        for event in events {
            switch event {
            case .commandReceived(let command): append(command.writeSegments())
            case .responseReceived(let response): append(response.writeSegments())
            default: break
            }
        }
        return out
    }

    static func errors(_ events: [SyncDecoder.Event]) -> [SyncProtocolError] {
        events.compactMap {
            if case .errorDetected(let error) = $0 { return error }
            return nil
        }
    }

    static func commands(_ events: [SyncDecoder.Event]) -> [SyncCommand] {
        events.compactMap {
            if case .commandReceived(let command) = $0 { return command }
            return nil
        }
    }

    static func responses(_ events: [SyncDecoder.Event]) -> [SyncResponse] {
        events.compactMap {
            if case .responseReceived(let response) = $0 { return response }
            return nil
        }
    }

    /// Decodes one command line (CRLF added).
    static func command(_ line: String) -> SyncCommand? {
        commands(decode(Array((line + "\r\n").utf8), role: .replica)).first
    }
}
