import NIOCore
import SyncCodec

/// Feeds arbitrary bytes through the csync decoder in both roles and checks what a codec must
/// guarantee on hostile input: no crash, the same events whether bytes come at once or in
/// small chunks, and every decoded command or data line re-encodes to bytes that decode to
/// the same encoding (a fixpoint: `.string("7")` legitimately reads back as `.number(7)`).
///
/// Built two ways:
/// - `scripts/fuzz SECONDS sync` builds it with `-sanitize=fuzzer -DFUZZING` as a libFuzzer target;
/// - a normal build makes `sync-fuzz FILE…`, which replays corpus files or crash reproducers.
enum SyncCommandFuzz {
    static let limits = SyncLimits(
        maxLineLength: 256,
        maxLiteralSize: 1024,
        maxFileLiteralSize: 2048,
        maxNestingDepth: 8,
        maxListItems: 64,
        maxCommandSize: 4096
    )

    static func run(_ bytes: [UInt8]) {
        let chunk = 1 + Int(bytes.first ?? 0) % 5
        for role in [SyncDecoder.Role.replica, .master] {
            let whole = decode(bytes, role: role, chunk: max(bytes.count, 1))
            let pieces = decode(bytes, role: role, chunk: chunk)
            guard merged(whole) == merged(pieces) else {
                fatalError("chunked decoding differs for role \(role)")
            }
            checkRoundTrips(merged(whole), role: role)
        }
    }

    /// Decodes `bytes` fed `chunk` bytes at a time, resuming after every pause.
    static func decode(
        _ bytes: [UInt8],
        role: SyncDecoder.Role,
        chunk: Int,
        limits: SyncLimits = limits
    ) -> [SyncDecoder.Event] {
        var decoder = SyncDecoder(role: role, limits: limits)
        var input = ByteBuffer()
        var events: [SyncDecoder.Event] = []
        var offset = 0
        while offset < bytes.count {
            input.writeBytes(bytes[offset..<min(offset + chunk, bytes.count)])
            offset += chunk
            var rounds = 0
            while rounds < 1000 {
                rounds += 1
                let found = decoder.decode(&input)
                events += found
                guard case .commandReceived(let command) = found.last else { break }
                switch command {
                case .authenticate: decoder.expectSASLResponse()
                default: decoder.resume()
                }
            }
            guard decoder.heldByteCount <= max(limits.maxLiteralSize, limits.maxLineLength, 2 * 2100) else {
                fatalError("decoder holds \(decoder.heldByteCount) bytes")
            }
            input.discardReadBytes()
        }
        return events
    }

    /// File bytes arrive in as many events as chunks; join adjacent ones.
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

    static func checkRoundTrips(_ events: [SyncDecoder.Event], role: SyncDecoder.Role) {
        var files: [[UInt8]] = []
        for event in events {
            switch event {
            case .fileLiteralStarted: files.append([])
            case .fileLiteralBytesReceived(let bytes): files[files.count - 1] += Array(bytes.readableBytesView)
            case .errorDetected: files = []
            case .commandReceived(let command):
                let first = encode(command.writeSegments(), files: files)
                let again = decode(first, role: .replica, chunk: first.count, limits: SyncLimits())
                guard let second = again.compactMap(commandOf).first,
                    encode(second.writeSegments(), files: files) == first
                else { fatalError("command does not round-trip: \(command)") }
                files = []
            case .responseReceived(let response):
                let first = encode(response.writeSegments(), files: files)
                var decoder = SyncDecoder(role: .master)
                switch response {
                case .capability, .greeting: break
                default:
                    var banner = ByteBuffer(string: "* OK fuzz\r\n")
                    _ = decoder.decode(&banner)
                }
                var input = ByteBuffer(bytes: first)
                let again = decoder.decode(&input).compactMap(responseOf)
                guard let second = again.first, encode(second.writeSegments(), files: files) == first else {
                    fatalError("response does not round-trip: \(response)")
                }
                files = []
            default: break
            }
        }
    }

    static func commandOf(_ event: SyncDecoder.Event) -> SyncCommand? {
        if case .commandReceived(let command) = event { return command }
        return nil
    }

    static func responseOf(_ event: SyncDecoder.Event) -> SyncResponse? {
        if case .responseReceived(let response) = event { return response }
        return nil
    }

    /// Joins segments, taking file bodies from `files` in order (empty when there are fewer).
    static func encode(_ segments: [SyncWireSegment], files: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        var next = 0
        for segment in segments {
            switch segment {
            case .bytes(let bytes): out += Array(bytes.readableBytesView)
            case .fileBody(let file):
                var body = next < files.count ? files[next] : []
                body += [UInt8](repeating: 0x61, count: max(0, Int(file.size) - body.count))
                out += body.prefix(Int(file.size))
                next += 1
            }
        }
        return out
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    SyncCommandFuzz.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's driver entry (SwiftPM names an executable's entry `SyncFuzz_main`, so the
/// fuzzer is started from there rather than from libFuzzer's own `main`).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("SyncFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOne)
}
#else
import Foundation

@main
struct SyncFuzzReplay {
    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            print("usage: sync-fuzz FILE… (replays inputs; build with scripts/fuzz to fuzz)")
            return
        }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                continue
            }
            SyncCommandFuzz.run(Array(data))
            print("ok \(path)")
        }
    }
}
#endif
