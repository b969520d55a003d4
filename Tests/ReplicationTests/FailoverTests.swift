import MailCore
import MailStore
import Replication
import Testing

/// The pieces of `corvid failover` that live below the CLI: the write gate and the
/// `X-CORVID-PROMOTE` extension of Corvid's csync replica.
@Suite struct FailoverTests {
    @Test func theWriteGateRefusesWhenClosedAndCountsWritesInFlight() async {
        let gate = WriteGate()
        #expect(gate.enter() && gate.enter())
        #expect(gate.inFlight == 2)
        gate.setOpen(false)
        #expect(!gate.enter(), "closed: a new write is refused")
        #expect(gate.inFlight == 2, "the admitted ones still run")
        gate.leave()
        gate.leave()
        #expect(gate.inFlight == 0)
        #expect(await gate.admit { 1 } == nil)
        gate.setOpen(true)
        #expect(await gate.admit { 2 } == 2)
        #expect(gate.inFlight == 0)
    }

    @Test func aCorvidReplicaOffersPromotionAndTakesTheMasterRoleOnce() async throws {
        let server = try SyncTestServer(
            configuration: SyncServerConfiguration(
                admins: ["repluser"],
                allowPlaintext: true,
                failedLoginDelay: 0.001,
                promotionAvailable: true
            )
        )
        let client = try await server.login()
        #expect(client.banner.contains("* X-CORVID-PROMOTE"), "\(client.banner)")
        #expect(try await server.store.replicationRole() == nil)
        let promoted = try await client.command("APPLY X-CORVID-PROMOTE %(EPOCH 3 FROM old-master)")
        #expect(promoted.last?.hasPrefix("OK") == true, "\(promoted)")
        let role = try #require(try await server.store.replicationRole())
        #expect(role.state == .master && role.epoch == 3 && role.note.contains("old-master"))
        let stale = try await client.command("APPLY X-CORVID-PROMOTE %(EPOCH 2 FROM older)")
        #expect(stale.last?.hasPrefix("NO") == true, "an older failover cannot take the role back: \(stale)")
        #expect(try await server.store.replicationRole()?.epoch == 3)
    }

    @Test func withoutTheExtensionPromotionIsAnUnknownApply() async throws {
        let server = try SyncTestServer()
        let client = try await server.login()
        #expect(!client.banner.contains("* X-CORVID-PROMOTE"))
        let reply = try await client.command("APPLY X-CORVID-PROMOTE %(EPOCH 3)")
        #expect(reply.last?.hasPrefix("NO") == true)
        #expect(try await server.store.replicationRole() == nil)
    }
}
