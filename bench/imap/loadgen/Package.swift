// swift-tools-version: 6.0
// IMAP load generator for bench/imap/run. Dependency-free like bench/lmtp/loadgen: POSIX
// sockets, blocking I/O, one thread per active connection (idle connections of the memory
// row are parked fds, no thread each), so it builds in seconds and costs little CPU.
import PackageDescription

let package = Package(
    name: "imap-loadgen",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "imap-loadgen", targets: ["imap-loadgen"]),
    ],
    targets: [
        .executableTarget(name: "imap-loadgen"),
    ],
    swiftLanguageModes: [.v6]
)
