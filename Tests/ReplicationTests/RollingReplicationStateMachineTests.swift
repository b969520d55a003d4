import MailCore
import MailStore
import Replication
import Testing

/// ``RollingReplicationStateMachine`` driven with no I/O: events in, actions out.
@Suite struct RollingReplicationStateMachineTests {
    typealias Action = RollingReplicationStateMachine.Action

    /// Failures are not re-read on a timer here: the tests feed ``failuresLoaded`` themselves.
    static let settings = RollingReplicationSettings(channel: "a", failureReloadInterval: 1e9)

    static func change(_ sequence: Int64, _ mailbox: String) -> ChangeEvent {
        ChangeEvent(
            sequence: sequence,
            user: nil,
            mailbox: mailbox,
            mailboxUniqueID: nil,
            kind: .append,
            modSeq: nil,
            time: 0
        )
    }

    /// A machine with a cursor at 10, connected and reading the feed.
    static func following() -> RollingReplicationStateMachine {
        var machine = RollingReplicationStateMachine(settings: settings)
        _ = machine.start(now: 0)
        _ = machine.stateLoaded(
            cursor: ReplicationCursor(channel: "a", sequence: 10, lastSuccess: nil),
            feed: ChangeFeedPosition(newest: 10, prunedThrough: 0),
            failures: [],
            now: 0
        )
        let action = machine.connected(now: 0)
        precondition(action == .readChanges(after: 10, limit: settings.batchLimit))
        return machine
    }

    @Test func aNewChannelSyncsEverythingThenFollowsFromThere() {
        var machine = RollingReplicationStateMachine(settings: Self.settings)
        #expect(machine.start(now: 0) == .loadState)
        let loaded = machine.stateLoaded(
            cursor: nil,
            feed: ChangeFeedPosition(newest: 42, prunedThrough: 0),
            failures: [],
            now: 0
        )
        #expect(loaded == .connect)
        #expect(machine.connected(now: 0) == .fullSync(through: 42))
        let record = machine.replicated(ReplicationOutcome(), now: 1)
        #expect(record == .record(ReplicationProgress(channel: "a", cursor: 42, time: 1)))
        #expect(machine.recorded(now: 1) == .readChanges(after: 42, limit: Self.settings.batchLimit))
        #expect(!machine.needsFullSync)
    }

    @Test func aCursorBehindThePrunedFeedForcesAFullSync() {
        var machine = RollingReplicationStateMachine(settings: Self.settings)
        _ = machine.start(now: 0)
        _ = machine.stateLoaded(
            cursor: ReplicationCursor(channel: "a", sequence: 5, lastSuccess: nil),
            feed: ChangeFeedPosition(newest: 100, prunedThrough: 50),
            failures: [],
            now: 0
        )
        #expect(machine.connected(now: 0) == .fullSync(through: 100))
    }

    /// After an unclean shutdown of the master, a channel with a good cursor still compares
    /// (and repairs) everything first: the crash may have cut a batch anywhere.
    @Test func anUncleanStartVerifiesEverythingFirst() {
        var settings = Self.settings
        settings.verifyOnStart = true
        var machine = RollingReplicationStateMachine(settings: settings)
        _ = machine.start(now: 0)
        _ = machine.stateLoaded(
            cursor: ReplicationCursor(channel: "a", sequence: 90, lastSuccess: nil),
            feed: ChangeFeedPosition(newest: 100, prunedThrough: 0),
            failures: [],
            now: 0
        )
        #expect(machine.connected(now: 0) == .fullSync(through: 100))
        #expect(
            machine.replicated(ReplicationOutcome(), now: 1)
                == .record(ReplicationProgress(channel: "a", cursor: 100, time: 1))
        )
        #expect(machine.recorded(now: 1) == .readChanges(after: 100, limit: settings.batchLimit))
        #expect(!machine.needsFullSync, "once: a later reconnect does not verify again")
    }

    @Test func aBatchAdvancesTheCursorOnlyOnceRecorded() {
        var machine = Self.following()
        let action = machine.changesRead([Self.change(11, "user.a"), Self.change(12, "user.a.X")], now: 1)
        guard case .replicate(let work, let through) = action else {
            Issue.record("expected replicate, got \(action)")
            return
        }
        #expect(through == 12)
        #expect(work.mailboxGroups == ["a": ["user.a", "user.a.X"]])
        let record = machine.replicated(ReplicationOutcome(attempted: work.items), now: 2)
        #expect(record == .record(ReplicationProgress(channel: "a", cursor: 12, time: 2)))
        #expect(machine.cursor == 10)
        #expect(machine.recorded(now: 2) == .readChanges(after: 12, limit: Self.settings.batchLimit))
        #expect(machine.cursor == 12)
        // Nothing new: wait, woken by a change, at most the repeat interval.
        #expect(machine.changesRead([], now: 3) == .wait(until: 3 + Self.settings.repeatInterval, wakeOnChange: true))
    }

    @Test func aLostSessionRepeatsTheBatchAndReconnectsWithBackoff() {
        var machine = Self.following()
        _ = machine.changesRead([Self.change(11, "user.a")], now: 1)
        #expect(machine.connectionLost(now: 1) == .wait(until: 1.25, wakeOnChange: false))
        #expect(machine.waited(now: 1.25) == .connect)
        var waits: [Double] = []
        for attempt in 0..<10 {
            guard case .wait(let until, false) = machine.connectionFailed(now: Double(attempt)) else {
                Issue.record("expected a backoff wait")
                return
            }
            waits.append(until - Double(attempt))
        }
        #expect(waits == [0.5, 1, 2, 4, 8, 16, 20, 20, 20, 20])
        #expect(machine.connected(now: 20) == .readChanges(after: 10, limit: Self.settings.batchLimit))
        #expect(machine.cursor == 10)
    }

    @Test func aFailingItemIsRetriedThenQuarantinedWhileTheRestFlows() {
        var machine = Self.following()
        let bad = ReplicationItem(.mailbox, "user.a.Bad")
        var now = 1.0
        _ = machine.changesRead([Self.change(11, "user.a"), Self.change(12, "user.a.Bad")], now: now)
        var outcome = ReplicationOutcome(
            attempted: [ReplicationItem(.mailbox, "user.a"), bad],
            failed: [bad: "commandRefused: NO"]
        )
        var recorded = machine.replicated(outcome, now: now)
        guard case .record(let first) = recorded else {
            Issue.record("expected record")
            return
        }
        #expect(first.cursor == 12)
        #expect(first.failed.map(\.failures) == [1])
        #expect(first.failed.first?.nextRetry == now + 0.25)
        #expect(machine.recorded(now: now) == .readChanges(after: 12, limit: Self.settings.batchLimit))
        // Retried on its own when due, four more times: quarantined on the fifth failure.
        outcome = ReplicationOutcome(attempted: [bad], failed: [bad: "commandRefused: NO"])
        for failures in 2...5 {
            now += 100
            let action = machine.changesRead([], now: now)
            #expect(action == .wait(until: now, wakeOnChange: true))
            #expect(machine.waited(now: now) == .replicate(.init(retrying: [bad]), through: nil))
            recorded = machine.replicated(outcome, now: now)
            guard case .record(let progress) = recorded else {
                Issue.record("expected record")
                return
            }
            #expect(progress.cursor == nil)
            #expect(progress.failed.first?.failures == failures)
            #expect(progress.failed.first?.quarantined == (failures == 5))
            _ = machine.recorded(now: now)
        }
        #expect(machine.failedItems.first?.nextRetry == now + Self.settings.quarantineRetryInterval)
        // A new batch touching the quarantined mailbox leaves it out.
        let action = machine.changesRead([Self.change(13, "user.a.Bad"), Self.change(14, "user.a")], now: now)
        #expect(action == .replicate(ChangeCoalescer.work(for: [Self.change(14, "user.a")]), through: 14))
        // A successful retry (e.g. after `corvid sync retry`) clears it.
        _ = machine.replicated(ReplicationOutcome(attempted: [ReplicationItem(.mailbox, "user.a")]), now: now)
        _ = machine.recorded(now: now)
        var reset = machine.failedItems[0]
        reset.failures = 0
        reset.quarantined = false
        reset.nextRetry = 0
        #expect(machine.failuresLoaded([reset], now: now) == .replicate(.init(retrying: [bad]), through: nil))
        let cleared = machine.replicated(ReplicationOutcome(attempted: [bad]), now: now)
        #expect(cleared == .record(ReplicationProgress(channel: "a", cursor: nil, time: now, succeeded: [bad])))
        _ = machine.recorded(now: now)
        #expect(machine.failedItems.isEmpty)
    }
}
