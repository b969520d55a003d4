import Logging
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Replication
import Testing

@testable import CorvidRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `corvid sync`'s TCP transport: a master session over loopback into Corvid's replica, with
/// COMPRESS DEFLATE required (`-z`), so the client side of the Deflate pair is exercised.
@Suite struct SyncClientChannelTests {
    struct Passwords: SyncAuthenticator {
        func authenticate(user: String, password: String) async -> Bool { user == "repl" && password == "pw" }
    }

    static func temporaryStore(_ label: String) throws -> (String, SQLiteMailStore) {
        var template = Array("/tmp/corvid-\(label)-XXXXXX".utf8CString)
        let directory = String(cString: mkdtemp(&template)!)
        let store = try SQLiteMailStore(
            configuration: .init(configDirectory: directory + "/conf", partitions: ["default": directory + "/spool"])
        )
        return (directory, store)
    }

    @Test func compressedSessionOverLoopbackReplicatesAUser() async throws {
        let (masterDirectory, master) = try Self.temporaryStore("master")
        let (replicaDirectory, replica) = try Self.temporaryStore("replica")
        defer { _ = system("rm -rf '\(masterDirectory)' '\(replicaDirectory)'") }
        let alice = try UserName("alice")
        _ = try await master.createUser(alice, passwordVerifier: "x", quota: QuotaLimits())
        // A large, compressible message: many reads and writes pass through the Deflate pair.
        let body = String(repeating: "All work and no play makes Jack a dull boy.\r\n", count: 20_000)
        let writer = try await master.beginMessage()
        try await writer.write(ByteBuffer(string: "Subject: big\r\n\r\n" + body))
        let staged = try await writer.finish()
        for result in await master.deliver(
            staged,
            to: [DeliveryTarget(mailbox: .inbox(of: alice), internalDate: 1_700_000_000)]
        ) {
            _ = try result.get()
        }

        let connection = SyncServerConnection(
            configuration: SyncServerConfiguration(admins: ["repl"], allowPlaintext: true, compressionAvailable: true),
            store: replica,
            authenticator: Passwords(),
            logger: Logger(label: "test.replica")
        )
        let server = try await LoopbackServer.start(
            configure: { _ in },
            handle: { inbound, outbound, channel in
                let transport = ChannelSessionTransport(channel: channel, output: outbound, tls: nil)
                try await connection.run(peer: "test", input: inbound, transport: transport, tlsActive: false)
            }
        )
        let client = SyncClient(
            store: master,
            configuration: SyncClientConfiguration(authName: "repl", password: "pw", requireCompression: true),
            logger: Logger(label: "test.master")
        )
        let report = try await SyncClientChannel.run(
            host: "127.0.0.1",
            port: server.port,
            client: client,
            work: .users([alice]),
            progress: { _ in }
        )
        try await server.close()
        #expect(report.failures.isEmpty, "\(report.failures)")
        #expect(report.messagesUploaded == 1 && report.bytesUploaded == Int(staged.size))
        let records = try await replica.records(in: .inbox(of: alice), includeExpunged: false)
        #expect(records.map(\.guid) == [staged.guid])
        let bytes = try await replica.messageBytes(staged.guid)
        #expect(bytes.readableBytes == Int(staged.size))
    }
}
