import Logging
import MailCore
import MailStore
import Replication
import ServiceLifecycle

/// `sync_log: 1`: one ``RollingReplicator`` per channel, each with its own cursor, pace and
/// connection, until shutdown.
struct RollingReplicationService: Service {
    let store: any MailStore
    let channels: [SyncChannelConfig]
    let repeatInterval: Double
    let reconnectMaxWait: Double
    /// The previous run ended without a clean shutdown: every channel verifies first.
    let verifyOnStart: Bool
    /// `sync_verify`.
    let verifyEachSession: Bool
    /// `sync_ack: replica` waiters, told of each channel's durable progress.
    let ackBoard: ReplicaAckBoard?
    let clock: @Sendable () -> UnixTime

    func run() async throws {
        await cancelWhenGracefulShutdown {
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
                            logger: logger
                        ),
                        connector: SyncClientChannel.Connector(host: channel.host, port: channel.port),
                        clock: clock,
                        ackBoard: ackBoard
                    )
                    group.addTask { await replicator.run() }
                }
            }
        }
    }
}
