import ArgumentParser
import CorvidRuntime
import Logging
import MailCore
import Replication

extension Check {
    /// `--replica`: one csync session with the channel's replica.
    func checkReplica() async throws {
        let (config, store) = try options.openStore()
        let name = channel ?? SyncChannelConfig.defaultName
        let channels = config.syncChannels
        guard let target = channels.first(where: { $0.name == name }) else {
            let known = channels.map(\.name).joined(separator: ", ")
            throw CLIError(
                "no replica for channel \(name) (configured: \(known.isEmpty ? "none; set sync_host" : known))"
            )
        }
        let userNames: [UserName]
        var shared: [MailboxName] = []
        if users.isEmpty {
            userNames = try await store.users().map(\.name)
            shared = try await store.mailboxes(under: nil).map(\.name).filter { $0.owner == nil }
        } else {
            userNames = try users.map { try parseUser($0) }
        }
        let client = SyncClient(
            store: store,
            configuration: SyncClientConfiguration(authName: target.authName, password: target.password ?? ""),
            logger: Logger(label: "corvid.check")
        )
        let report: SyncClientReport
        do {
            report = try await SyncClientChannel.run(
                host: target.host,
                port: target.port,
                client: client,
                work: .check(users: userNames, sharedMailboxes: shared, repair: repair)
            ) { _ in }
        } catch {
            throw CLIError("check of \(target.host):\(target.port) failed: \(error)")
        }
        for difference in report.differences { print("difference: \(difference)") }
        if repair {
            for note in report.notes { print("repair: \(note)") }
            for difference in report.remainingDifferences { print("still different: \(difference)") }
        }
        for failure in report.failures { print("failed: \(failure.name): \(failure.reason)") }
        let checked = "\(report.succeeded.count) of \(userNames.count + (shared.isEmpty ? 0 : 1))"
        print(
            "checked \(checked) users/shared sets against channel \(name) (\(target.host):\(target.port)): "
                + "\(report.differences.count) difference(s)"
                + (repair ? ", \(report.remainingDifferences.count) after repair" : "")
        )
        if !report.failures.isEmpty || !report.remainingDifferences.isEmpty { throw ExitCode(1) }
    }
}
