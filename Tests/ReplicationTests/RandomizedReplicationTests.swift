import Logging
import MailCore
import MailStore
import MailStoreSQLite
import NIOCore
import Replication
import SessionTestSupport
import Testing

/// Model-based runs of rolling replication (issue 6): random deliveries, flag changes,
/// expunges, folder creates and renames on the master; random link cuts during which the
/// replica takes writes of its own (split brain); random master restarts. At the end the
/// pair must have converged: the stores equal, every message delivered on either side and
/// never expunged present on the master exactly once, UIDVALIDITY of every folder unchanged.
/// Seedable; CI runs the fixed seeds below (a failing seed reproduces exactly, up to timing).
@Suite struct RandomizedReplicationTests {
    static let users = ["alice", "bob"]
    /// Named limit: operations per run.
    static let steps = 100

    /// The run's bookkeeping: what was delivered where, what was expunged on purpose.
    struct Model {
        var delivered: [MessageGUID] = []
        var expunged: Set<MessageGUID> = []
        var counter = 0
        var linkUp = true
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func randomOperationsCutsAndRestartsConverge(seed: UInt64) async throws {
        var random = SplitMix(state: seed)
        let pair = try SyncMasterPair()
        try await SyncClientTests.populate(pair)
        let link = ReplicaLink(replica: pair.replica)
        var settings = RollingReplicatorTests.settings()
        settings.verifyEachSession = true
        var task = Self.start(pair.master, link, settings)
        try await RollingReplicatorTests.converge(pair)
        var validity: [String: UIDValidity] = [:]
        for mailbox in try await pair.master.mailboxes(under: nil) { validity[mailbox.uniqueID] = mailbox.uidValidity }
        var model = Model()
        var log: [String] = []

        for _ in 0..<Self.steps {
            let roll = Int.random(in: 0..<100, using: &random)
            switch roll {
            case 0..<35:
                let target = try await Self.pick(pair.master, &random)
                model.delivered.append(try await Self.deliver(&model, to: target, on: pair.master, "master"))
                log.append("deliver \(target) on master")
            case 35..<50:
                if let (name, uid) = try await Self.pickMessage(pair.master, &random) {
                    let flag = [Flag.seen, .flagged, .answered, Flag("$Label\(roll % 3)")!].randomElement(
                        using: &random
                    )!
                    _ = try await pair.master.storeFlags(
                        Bool.random(using: &random) ? .add(FlagSet([flag])) : .remove(FlagSet([flag])),
                        uids: [uid],
                        in: name
                    )
                    log.append("flag \(flag.name) \(name) \(uid) on master")
                }
            case 50..<55:
                if let (name, uid) = try await Self.pickMessage(pair.master, &random) {
                    let gone = try await pair.master.records(in: name, includeExpunged: false).first { $0.uid == uid }
                    _ = try await pair.master.expunge(uids: [uid], in: name)
                    if let gone { model.expunged.insert(gone.guid) }
                    log.append("expunge \(name) \(uid) on master")
                }
            case 55..<60:
                model.counter += 1
                let user = Self.users.randomElement(using: &random)!
                let name = try MailboxName.inbox(of: UserName(user)).child("M\(model.counter)")
                let made = try await pair.master.createMailbox(name, acl: nil)
                validity[made.uniqueID] = made.uidValidity
                log.append("create \(name) on master")
            case 60..<64:
                let folders = try await pair.master.mailboxes(under: nil).filter { $0.name.components.count > 2 }
                if let folder = folders.randomElement(using: &random) {
                    model.counter += 1
                    let parent = MailboxName.inbox(of: folder.name.owner!)
                    let target = try parent.child("N\(model.counter)")
                    try await pair.master.renameMailbox(folder.name, to: target)
                    log.append("rename \(folder.name) to \(target) on master")
                }
            case 64..<72:
                // The replica, while cut off, takes writes of its own.
                guard !model.linkUp else { fallthrough }
                let target = try await Self.pick(pair.replica.store, &random)
                model.delivered.append(try await Self.deliver(&model, to: target, on: pair.replica.store, "replica"))
                if Bool.random(using: &random),
                    let (name, uid) = try await Self.pickMessage(pair.replica.store, &random)
                {
                    _ = try await pair.replica.store.storeFlags(.add(FlagSet([.flagged])), uids: [uid], in: name)
                }
                if roll == 64 {
                    model.counter += 1
                    let user = Self.users.randomElement(using: &random)!
                    let name = try MailboxName.inbox(of: UserName(user)).child("R\(model.counter)")
                    let made = try await pair.replica.store.createMailbox(name, acl: nil)
                    validity[made.uniqueID] = made.uidValidity
                    log.append("create \(name) on replica")
                }
                log.append("deliver \(target) on replica (split brain)")
            case 72..<80:
                model.linkUp.toggle()
                link.setUp(model.linkUp)
                log.append(model.linkUp ? "link restored" : "link cut")
            case 80..<84:
                await RollingReplicatorTests.stop(task)
                task = Self.start(pair.master, link, settings)
                log.append("master's replicator restarted")
            default:
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...20, using: &random)))
            }
        }

        // Mail keeps flowing: with the link back, the channel finds its session dead, opens a
        // new one, verifies everything and merges what the replica took.
        link.setUp(true)
        model.linkUp = true
        let last = try await Self.deliver(&model, to: SyncClientTests.alice, on: pair.master, "master")
        model.delivered.append(last)
        var differences: [String] = []
        try await RollingReplicatorTests.eventually("the pair converges (seed \(seed))", within: 60) {
            differences = try await pair.differences(users: Self.users, strictTombstones: false)
            return differences.isEmpty
        }
        #expect(differences == [], "seed \(seed): \(differences)\n\(log.joined(separator: "\n"))")
        var live: [MessageGUID: Int] = [:]
        for mailbox in try await pair.master.mailboxes(under: nil) {
            for record in try await pair.master.records(in: mailbox.name, includeExpunged: false) {
                live[record.guid, default: 0] += 1
            }
            if let before = validity[mailbox.uniqueID] {
                #expect(mailbox.uidValidity == before, "seed \(seed): UIDVALIDITY of \(mailbox.name) changed")
            }
        }
        let lost = model.delivered.filter { !model.expunged.contains($0) && live[$0] == nil }
        let doubled = model.delivered.filter { (live[$0] ?? 0) > 1 }
        #expect(lost.isEmpty, "seed \(seed): lost \(lost.count) messages\n\(log.joined(separator: "\n"))")
        #expect(doubled.isEmpty, "seed \(seed): \(doubled.count) messages twice\n\(log.joined(separator: "\n"))")
        await RollingReplicatorTests.stop(task)
    }

    static func start(
        _ store: any MailStore,
        _ link: ReplicaLink,
        _ settings: RollingReplicationSettings
    )
        -> Task<Void, Never>
    {
        let replicator = RollingReplicator(
            settings: settings,
            store: store,
            client: SyncClient(
                store: store,
                configuration: SyncClientConfiguration(authName: "repluser", password: "secret"),
                logger: Logger(label: "test.randomized")
            ),
            connector: link,
            clock: SQLiteMailStore.systemTime
        )
        return Task { await replicator.run() }
    }

    /// A mailbox of one of the users on `store` (not a deleted one).
    static func pick(_ store: SQLiteMailStore, _ random: inout SplitMix) async throws -> MailboxName {
        let user = try UserName(users.randomElement(using: &random)!)
        let names = try await store.mailboxes(under: .inbox(of: user)).map(\.name)
        return names.randomElement(using: &random) ?? .inbox(of: user)
    }

    static func pickMessage(_ store: SQLiteMailStore, _ random: inout SplitMix) async throws -> (MailboxName, UID)? {
        let name = try await pick(store, &random)
        guard let record = try await store.records(in: name, includeExpunged: false).randomElement(using: &random)
        else { return nil }
        return (name, record.uid)
    }

    /// A message no other delivery of the run has (so its GUID is its identity).
    static func deliver(
        _ model: inout Model,
        to name: MailboxName,
        on store: SQLiteMailStore,
        _ side: String
    ) async throws -> MessageGUID {
        model.counter += 1
        let text =
            "From: random@example.org\r\nSubject: \(side) \(model.counter)\r\n"
            + "Message-ID: <random-\(model.counter)@example.org>\r\n\r\nBody \(model.counter).\r\n"
        let staged = try await SyncClientTests.staged(store, text)
        let target = DeliveryTarget(mailbox: name, flags: FlagSet(), internalDate: 1_700_000_000)
        for result in await store.deliver(staged, to: [target]) { _ = try result.get() }
        await store.discardStagedMessage(staged)
        return staged.guid
    }
}
