// swift-tools-version: 6.0
// LMTP load generator for bench/lmtp/run. Deliberately dependency-free (POSIX sockets,
// one blocking thread per connection) so it builds in seconds and stays off the
// critical path: the measured server should always be the bottleneck.
import PackageDescription

let package = Package(
    name: "lmtp-loadgen",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lmtp-loadgen", targets: ["lmtp-loadgen"]),
        .executable(name: "lmtp-sink", targets: ["lmtp-sink"]),
    ],
    targets: [
        .executableTarget(name: "lmtp-loadgen"),
        // do-nothing LMTP server, only to measure the load generator's own ceiling
        .executableTarget(name: "lmtp-sink"),
    ],
    swiftLanguageModes: [.v6]
)
