// swift-tools-version: 6.0
import PackageDescription

// Module layout and dependency direction: see docs/architecture.md.
// Engines (LMTPServer, later IMAPServer…) never import GRDB or NIOPosix; only
// MailStoreSQLite knows SQLite, and only CorvidRuntime opens sockets.
let package = Package(
    name: "corvid",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "corvid", targets: ["corvid"]),
        .executable(name: "imap-fuzz", targets: ["IMAPFuzz"]),
        .executable(name: "sync-fuzz", targets: ["SyncFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.10.0"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.3.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.4.0"),
    ],
    targets: [
        .target(name: "MailCore"),
        .target(name: "MailMessage", dependencies: ["MailCore"]),
        .target(
            name: "MailStore",
            dependencies: [
                "MailCore",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "MailStoreSQLite",
            dependencies: [
                "MailCore", "MailStore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "WireCore", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        .target(
            name: "IMAPCodec",
            dependencies: ["MailCore", "MailMessage", "WireCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "POP3Codec",
            dependencies: ["WireCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "POP3Server",
            dependencies: [
                "MailCore", "MailStore", "POP3Codec", "ServerSupport", "WireCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "Replication",
            dependencies: [
                "MailCore", "MailStore", "SyncCodec", "ServerSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "LMTPCodec",
            dependencies: ["WireCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "SyncCodec",
            dependencies: ["MailCore", "WireCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "ServerSupport",
            dependencies: [
                "MailCore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "LMTPServer",
            dependencies: [
                "MailCore", "MailStore", "LMTPCodec", "ServerSupport", "WireCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "IMAPServer",
            dependencies: [
                "MailCore", "MailMessage", "MailStore", "IMAPCodec", "ServerSupport", "WireCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "CorvidRuntime",
            dependencies: [
                "MailCore", "MailStore", "MailStoreSQLite", "LMTPServer", "IMAPServer", "POP3Server", "Replication",
                "ServerSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .executableTarget(
            name: "corvid",
            dependencies: [
                "CorvidRuntime", "MailCore", "MailStore", "MailStoreSQLite", "Replication", "ServerSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "IMAPFuzz",
            dependencies: ["IMAPCodec", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .executableTarget(
            name: "SyncFuzz",
            dependencies: ["SyncCodec", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "MailCoreTests",
            dependencies: ["MailCore", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(name: "MailMessageTests", dependencies: ["MailMessage"]),
        .testTarget(
            name: "WireCoreTests",
            dependencies: [
                "WireCore", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "LMTPCodecTests",
            dependencies: [
                "LMTPCodec", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "MailStoreTests",
            dependencies: [
                "MailCore", "MailStore", "MailStoreSQLite", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "LMTPServerTests",
            dependencies: [
                "LMTPServer", "LMTPCodec", "MailStore", "MailStoreSQLite", "ServerSupport", "MailCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "ServerSupportTests", dependencies: ["ServerSupport", "MailCore"]),
        .testTarget(
            name: "IMAPCodecTests",
            dependencies: [
                "IMAPCodec", "MailCore", "MailMessage", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "SyncCodecTests",
            dependencies: [
                "SyncCodec", "MailCore", "SessionTestSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "IMAPServerTests",
            dependencies: [
                "IMAPServer", "IMAPCodec", "MailStore", "MailStoreSQLite", "ServerSupport", "MailCore",
                "SessionTestSupport", .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["Transcripts"]
        ),
        .target(
            name: "SessionTestSupport",
            dependencies: [
                "MailCore", "MailStore", "MailStoreSQLite", .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/SessionTestSupport"
        ),
        .testTarget(
            name: "POP3CodecTests",
            dependencies: [
                "POP3Codec", "WireCore", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "POP3ServerTests",
            dependencies: [
                "POP3Server", "POP3Codec", "MailStore", "MailStoreSQLite", "ServerSupport", "MailCore", "WireCore",
                "SessionTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ReplicationTests",
            dependencies: [
                "Replication", "SyncCodec", "MailStore", "MailStoreSQLite", "MailCore", "SessionTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "CorvidRuntimeTests",
            dependencies: [
                "CorvidRuntime", "ServerSupport", "MailCore", "MailStore", "MailStoreSQLite", "Replication",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
