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
    let channels: [SyncChannelConfig]
    let repeatInterval: Double
    let reconnectMaxWait: Double
    /// `sync_timeout`: the longest a session waits on a silent replica before reconnecting.
    let replyTimeout: TimeAmount
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
                            reconnectMaxWait: reconnectMaxWait
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
                        connector: SyncClientChannel.Connector(
                            host: channel.host,
                            port: channel.port,
                            replyTimeout: replyTimeout
                        ),
                        clock: clock
                    )
                    group.addTask { await replicator.run() }
                }
            }
        }
    }
}
