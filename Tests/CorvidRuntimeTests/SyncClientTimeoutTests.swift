import Logging
import MailCore
import MailStoreSQLite
import NIOCore
import Replication
import Testing

@testable import CorvidRuntime

#if canImport(Glibc)
import Glibc
#endif

/// `sync_timeout` on the master's side: a replica that accepts the connection and then says
/// nothing (a stalled link) fails the session within the timeout instead of hanging it; a
/// session that is not waiting on the replica is left alone however long it idles.
@Suite struct SyncClientTimeoutTests {
    /// A replica that reads whatever comes and never answers, until the master hangs up.
    static func silentReplica() async throws -> LoopbackServer {
        try await LoopbackServer.start(
            configure: { _ in },
            handle: { inbound, _, _ in
                for try await _ in inbound {}
            }
        )
    }

    @Test func aSilentReplicaFailsTheSessionWithinSyncTimeout() async throws {
        let (directory, store) = try SyncClientChannelTests.temporaryStore("timeout")
        defer { _ = system("rm -rf '\(directory)'") }
        let server = try await Self.silentReplica()
        let client = SyncClient(
            store: store,
            configuration: SyncClientConfiguration(authName: "repl", password: "pw"),
            logger: Logger(label: "test.master")
        )
        let started = ContinuousClock.now
        let report = try await SyncClientChannel.run(
            host: "127.0.0.1",
            port: server.port,
            client: client,
            work: .users([try UserName("alice")]),
            replyTimeout: .milliseconds(300),
            progress: { _ in }
        )
        let elapsed = ContinuousClock.now - started
        try? await server.close()
        // The banner never came: the user is reported not attempted, with the timeout as reason.
        #expect(report.failures.map(\.0) == ["alice"])
        #expect(report.failures.first?.1.contains("timedOut") == true, "\(report.failures)")
        #expect(elapsed < .seconds(10), "took \(elapsed)")
    }

    /// Rolling replication's body: waits on the replica for its banner.
    struct AwaitBanner: SyncClientSessionBody {
        func run<Input: AsyncSequence, Transport: SyncClientTransport>(
            input: Input,
            transport: Transport
        ) async throws -> Bool where Input.Element == ByteBuffer {
            var iterator = input.makeAsyncIterator()
            transport.waitingForReplica(true)
            defer { transport.waitingForReplica(false) }
            return try await iterator.next() != nil
        }
    }

    @Test func theTimeoutErrorIsTheInputsError() async throws {
        let server = try await Self.silentReplica()
        let connector = SyncClientChannel.Connector(
            host: "127.0.0.1",
            port: server.port,
            replyTimeout: .milliseconds(200)
        )
        let error = await #expect(throws: SyncClientError.self) {
            _ = try await connector.withConnection(AwaitBanner())
        }
        #expect(error?.code == .timedOut && error?.isSessionFatal == true, "\(String(describing: error))")
        try? await server.close()
    }

    /// Idles longer than the timeout without waiting on the replica, then writes.
    struct IdleThenWrite: SyncClientSessionBody {
        func run<Input: AsyncSequence, Transport: SyncClientTransport>(
            input: Input,
            transport: Transport
        ) async throws -> Bool where Input.Element == ByteBuffer {
            try await Task.sleep(for: .milliseconds(800))
            try await transport.write(ByteBuffer(string: "NOOP\r\n"))
            return true
        }
    }

    @Test func anIdleSessionIsNotTimedOut() async throws {
        let server = try await Self.silentReplica()
        let connector = SyncClientChannel.Connector(
            host: "127.0.0.1",
            port: server.port,
            replyTimeout: .milliseconds(200)
        )
        let finished = try await connector.withConnection(IdleThenWrite())
        #expect(finished)
        try? await server.close()
    }
}
