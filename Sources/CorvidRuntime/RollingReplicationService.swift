import Logging
import MailCore
import MailStore
import NIOCore
import Replication
import ServiceLifecycle

/// `sync_log: 1`: one ``RollingReplicator`` per channel, each with its own cursor, pace and
/// connection, until shutdown.
struct RollingReplicationService: Service {
    let store: any MailStore
    /// The role as ``ReplicationRoleService`` follows it.
    let role: CurrentRole
    let channels: [SyncChannelConfig]
    let repeatInterval: Double
    let reconnectMaxWait: Double
    /// The previous run ended without a clean shutdown: every channel verifies first.
    let verifyOnStart: Bool
    /// `sync_verify`.
    let verifyEachSession: Bool
    /// `sync_ack: replica` waiters, told of each channel's durable progress.
    let ackBoard: ReplicaAckBoard?
    /// `sync_timeout`: the longest a session waits on a silent replica before reconnecting.
    let replyTimeout: TimeAmount
    let clock: @Sendable () -> UnixTime

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Channels run while this store is (or drains as) the master; a fenced replica
            // (corvid failover) replicates nothing until it is promoted again.
            var channelsTask: Task<Void, Never>?
            while !Task.isCancelled {
                let master = role.value != .replica
                if master && channelsTask == nil {
                    channelsTask = Task { await runChannels() }
                } else if !master, let task = channelsTask {
                    task.cancel()
                    await task.value
                    channelsTask = nil
                }
                try? await Task.sleep(for: ReplicationRoleService.pollInterval)
            }
            channelsTask?.cancel()
            await channelsTask?.value
        }
    }

    private func runChannels() async {
        // One set of cached mailbox checksums for every channel: they read the same store.
        let checksums = SyncChecksumCache()
        await withTaskGroup(of: Void.self) { group in
            for channel in channels {
                var logger = Logger(label: "corvid.sync")
                logger[metadataKey: "channel"] = "\(channel.name)"
                let replicator = RollingReplicator(
                    settings: RollingReplicationSettings(
                        channel: channel.name,
                        repeatInterval: repeatInterval,
                        reconnectMaxWait: reconnectMaxWait,
                        verifyOnStart: verifyOnStart,
                        verifyEachSession: verifyEachSession
                    ),
                    store: store,
                    client: SyncClient(
                        store: store,
                        configuration: SyncClientConfiguration(
                            authName: channel.authName,
                            password: channel.password ?? ""
                        ),
                        logger: logger,
                        checksums: checksums
                    ),
                    connector: SyncClientChannel.Connector(
                        host: channel.host,
                        port: channel.port,
                        replyTimeout: replyTimeout
                    ),
                    clock: clock,
                    ackBoard: ackBoard
                )
                group.addTask { await replicator.run() }
            }
        }
    }
}
