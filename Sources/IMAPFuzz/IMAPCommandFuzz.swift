import IMAPCodec
import NIOCore

/// Feeds arbitrary bytes through the IMAP command path a server runs on client input: the
/// frame decoder (line and literal framing, streamed APPEND), then the command parser, then
/// the client-side writer and the parser again (whatever parses must round-trip).
///
/// Built two ways:
/// - `scripts/fuzz` builds it with `-sanitize=fuzzer -DFUZZING` as a libFuzzer target;
/// - a normal build makes `imap-fuzz FILE…`, which replays corpus files or crash reproducers.
enum IMAPCommandFuzz {
    static func run(_ bytes: [UInt8]) {
        var decoder = IMAPFrameDecoder(
            limits: .init(maxLineLength: 1024, maxLiteralSize: 4096, maxCommandSize: 8192, maxLiterals: 16)
        )
        var input = ByteBuffer(bytes: bytes)
        var rounds = 0
        while input.readableBytes > 0, rounds < 10_000 {
            rounds += 1
            let before = input.readableBytes
            for event in decoder.decode(&input) {
                switch event {
                case .command(let frame):
                    if let command = try? IMAPCommandParser.parse(frame) {
                        var written = ByteBuffer()
                        command.write(into: &written)
                        // The writer's output is a whole command with CRLF; strip it to a frame.
                        written.moveWriterIndex(to: written.writerIndex - 2)
                        guard let again = try? IMAPCommandParser.parse(written), again == command else {
                            fatalError("round trip failed for \(command)")
                        }
                    } else {
                        _ = IMAPCommandParser.tag(of: frame)
                    }
                case .appendMessageBegin(let prefix, _, _):
                    if (try? IMAPCommandParser.parseAppendStart(prefix)) == nil {
                        _ = try? IMAPCommandParser.parseAppendNext(prefix)
                    }
                    // Alternate decisions so both paths are explored.
                    if bytes.count % 2 == 0 { decoder.acceptAppendMessage() } else { decoder.rejectAppendMessage() }
                default:
                    break
                }
            }
            if input.readableBytes == before { break }
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    IMAPCommandFuzz.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's driver entry (SwiftPM names an executable's entry `IMAPFuzz_main`, so the
/// fuzzer is started from there rather than from libFuzzer's own `main`).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("IMAPFuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzOne)
}
#else
import Foundation

@main
struct IMAPFuzzReplay {
    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        guard !paths.isEmpty else {
            print("usage: imap-fuzz FILE… (replays inputs; build with scripts/fuzz to fuzz)")
            return
        }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                print("cannot read \(path)")
                continue
            }
            IMAPCommandFuzz.run(Array(data))
            print("ok \(path)")
        }
    }
}
#endif
