import ArgumentParser
import CorvidRuntime
import Logging
import MailCore
import MailStore
import MailStoreSQLite
import ServerSupport

#if canImport(Glibc)
import Glibc
#endif

@main
struct Corvid: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Corvid mail store: LMTP delivery into a durable store, administered from one binary.",
        subcommands: [
            Serve.self, User.self, MailboxCommand.self, Check.self, Reconstruct.self, Sync.self, Failover.self,
            Promote.self, Fence.self,
        ]
    )

    /// The entry point: first make NIO's event loops the global executor (see `ProcessSetup`),
    /// then parse and run as ArgumentParser does.
    static func main() async {
        ProcessSetup.useEventLoopsAsGlobalExecutor()
        await main(nil)
    }
}

/// Options shared by every subcommand.
struct ConfigOptions: ParsableArguments {
    @Option(
        name: .customShort("C"),
        help: "Config file (imapd.conf syntax). Without it, embedded defaults in ./corvid-data."
    )
    var configFile: String?

    func load() throws -> CorvidConfig {
        let cwd = currentDirectory()
        guard let configFile else { return CorvidConfig.embeddedDefaults(workingDirectory: cwd) }
        let path = configFile.hasPrefix("/") ? configFile : cwd + "/" + configFile
        guard let text = readTextFile(path) else { throw CLIError("cannot read config file \(path)") }
        let base = String(path[..<path.lastIndex(of: "/")!])
        do {
            return try CorvidConfig.parse(text, baseDirectory: base.isEmpty ? "/" : base)
        } catch {
            throw CLIError("\(path): \(error)")
        }
    }

    func openStore() throws -> (CorvidConfig, SQLiteMailStore) {
        let config = try load()
        bootstrapLogging()
        let store = try SQLiteMailStore(
            configuration: config.storeConfiguration
        )
        return (config, store)
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buffer, buffer.count) != nil else { return "." }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

nonisolated(unsafe) private var loggingBootstrapped = false

/// stderr logging; level from CORVID_LOG_LEVEL (trace … critical), default info.
func bootstrapLogging() {
    guard !loggingBootstrapped else { return }
    loggingBootstrapped = true
    let level = getenv("CORVID_LOG_LEVEL").flatMap { Logger.Level(rawValue: String(cString: $0)) } ?? .info
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run every service the config enables, until SIGTERM.")
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config = try options.load()
        bootstrapLogging()
        let logger = Logger(label: "corvid")
        do {
            try await CorvidServer.run(config: config, logger: logger) { line in
                print("corvid: \(line)")
                fflush(nil)
            }
        } catch let error as RuntimeError {
            throw CLIError(error.description)
        } catch let error as MailStoreError {
            throw CLIError("store: \(error)")
        }
    }
}
