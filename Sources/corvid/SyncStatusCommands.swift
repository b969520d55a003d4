import ArgumentParser
import CorvidRuntime
import MailCore
import MailStore
import MailStoreSQLite

#if canImport(Glibc)
import Glibc
#endif

extension Sync {
    /// `corvid sync status`: each rolling channel's cursor, backlog, lag and last success, and
    /// its failing and quarantined items with their reasons.
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show rolling replication: each channel's cursor, backlog, lag, last success and failing items.",
            discussion: "Reads the store; works while `corvid serve` runs. Exit status 2 if an item is quarantined."
        )
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let (config, store) = try options.openStore()
            let cursors = try await store.replicationCursors()
            let failures = try await store.replicationFailures(channel: nil)
            var names = config.syncChannels.map(\.name)
            for name in cursors.map(\.channel) + failures.map(\.channel) where !names.contains(name) {
                names.append(name)
            }
            let now = SQLiteMailStore.systemTime()
            if let role = try await store.replicationRole() {
                print(
                    "role \(role.state.rawValue) since \(Self.utc(role.since)) (epoch \(role.epoch))"
                        + (role.note.isEmpty ? "" : ": \(role.note)")
                )
            }
            if names.isEmpty { print("no replication channels (set sync_log: 1 and sync_host)") }
            if !config.syncLog && !config.syncChannels.isEmpty {
                print("sync_log is off: corvid serve does not replicate")
            }
            for name in names {
                let cursor = cursors.first { $0.channel == name }
                let feed = try await store.changeFeedPosition(after: cursor?.sequence ?? 0)
                let target =
                    config.syncChannels.first { $0.name == name }.map { "\($0.host):\($0.port)" } ?? "(not configured)"
                print("channel \(name) → \(target)")
                if let cursor {
                    let lag = feed.oldestPendingTime.map { Self.duration(now - $0) } ?? "0s"
                    print(
                        "  cursor \(cursor.sequence) of \(feed.newest): backlog \(max(0, feed.newest - cursor.sequence)) "
                            + "changes, lag \(lag)"
                    )
                    if cursor.sequence < feed.prunedThrough {
                        print(
                            "  behind the pruned change feed (pruned through \(feed.prunedThrough)): a full sync will run"
                        )
                    }
                    if let last = cursor.lastSuccess {
                        print("  last success \(Self.utc(last)) (\(Self.duration(now - last)) ago)")
                    }
                } else {
                    print("  never replicated: a full sync runs first (change feed at \(feed.newest))")
                }
                let conflicts = try await store.replicationConflicts(channel: name, limit: 5)
                if !conflicts.isEmpty {
                    print("  conflicts kept for an administrator (newest first):")
                    for conflict in conflicts { print("    \(Self.utc(conflict.time)) \(conflict.text)") }
                }
                let own = failures.filter { $0.channel == name }
                let quarantined = own.filter(\.quarantined).count
                print("  \(quarantined) quarantined, \(own.count - quarantined) retrying")
                for failure in own {
                    let state = failure.quarantined ? "QUARANTINED" : "retrying"
                    let next =
                        failure.nextRetry <= now
                        ? "retry due now" : "next retry in \(Self.duration(failure.nextRetry - now))"
                    print(
                        "  \(state) \(failure.item): \(failure.failures) failures since \(Self.utc(failure.firstFailure)), "
                            + "\(next): \(failure.reason)"
                    )
                }
            }
            if failures.contains(where: \.quarantined) { throw ExitCode(2) }
        }

        /// `2026-11-23 21:42:02 UTC`.
        static func utc(_ time: UnixTime) -> String {
            var seconds = time_t(time)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            var buffer = [CChar](repeating: 0, count: 32)
            let count = strftime(&buffer, buffer.count, "%Y-%m-%d %H:%M:%S UTC", &parts)
            return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }

        /// `0.25s`, `42s`, `3m12s`, `2h5m`.
        static func duration(_ seconds: Double) -> String {
            let value = max(0, seconds)
            if value < 10 { return "\((value * 100).rounded() / 100)s" }
            let whole = Int(value)
            if whole < 60 { return "\(whole)s" }
            if whole < 3_600 { return "\(whole / 60)m\(whole % 60)s" }
            return "\(whole / 3_600)h\(whole / 60 % 60)m"
        }
    }

    /// `corvid sync retry NAME`: a failing or quarantined item is tried again at once.
    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retry a failing or quarantined replication item (mailbox or user) at once.",
            discussion: "corvid serve notices within a second; the item leaves quarantine when the retry succeeds."
        )
        @OptionGroup var options: ConfigOptions
        @Option(help: "Only on this channel (default: every channel)") var channel: String?
        @Argument(help: "Internal mailbox name (user.alice.Sent) or user name") var name: String

        func run() async throws {
            let (_, store) = try options.openStore()
            let count = try await store.retryReplicationItems(named: name, channel: channel)
            guard count > 0 else {
                throw CLIError("no failing replication item named \(name)\(channel.map { " on channel \($0)" } ?? "")")
            }
            print("corvid sync retry: \(name) will be retried at once (\(count) item\(count == 1 ? "" : "s"))")
        }
    }
}
