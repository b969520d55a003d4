import IMAPServer
import LMTPServer
import Logging
import MailCore
import MailStore
import MailStoreSQLite
import Metrics
import NIOCore
import NIOPosix
import NIOSSL
import POP3Server
import Prometheus
import Replication
import ServerSupport
import ServiceLifecycle

/// `corvid serve`: opens the store, binds every configured listener and runs them as one
/// `ServiceGroup` until SIGTERM or SIGINT, then drains and exits.
public enum CorvidServer {
    /// Runs the server. `announce` receives one human-readable line per listener once bound.
    public static func run(
        config: CorvidConfig,
        logger: Logger,
        announce: @escaping @Sendable (String) -> Void
    ) async throws {
        for warning in config.warnings { logger.warning("\(warning)") }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let store = try SQLiteMailStore(
            configuration: config.storeConfiguration,
            logger: Logger(label: "corvid.store")
        )
        let lock = try ServeLock(configDirectory: config.configDirectory)
        if lock.previousRunEndedUncleanly {
            // Only replication has something to do about it (the store recovers by itself).
            logger.log(
                level: config.syncLog ? .warning : .notice,
                "the previous run did not shut down cleanly",
                metadata: ["replication": "\(config.syncLog ? "every channel verifies its replica first" : "off")"]
            )
        }
        try lock.markRunning()
        try store.startServing()
        // The store's replication role (corvid failover): a fenced replica takes no client writes.
        let role = try await store.replicationRole()
        let writeGate = WriteGate(open: ReplicationRole.acceptsWrites(role))
        let currentRole = CurrentRole(role?.state)
        if let role {
            announce("role  \(role.state.rawValue) (epoch \(role.epoch)\(role.note.isEmpty ? "" : ": \(role.note)"))")
        }
        // `sync_ack: replica`: LMTP and APPEND wait on the acknowledging channels' progress.
        let acknowledging = Set(config.syncLog ? config.syncChannels.filter(\.acknowledges).map(\.name) : [])
        let ackBoard =
            acknowledging.isEmpty
            ? nil
            : ReplicaAckBoard(
                store: store,
                channels: acknowledging,
                timeout: .milliseconds(Int64(config.syncAckTimeout * 1000))
            )

        let group = MultiThreadedEventLoopGroup.singleton
        var services: [any Service] = []
        if let address = config.lmtpListen {
            let lmtp = LMTPConnection(
                configuration: LMTPConfiguration(
                    serverName: config.serverName,
                    maxMessageSize: config.maxMessageSize,
                    maxRecipients: config.lmtpMaxRecipients,
                    maxCommandLine: config.lmtpMaxLineLength,
                    downcaseRecipients: config.lmtpDowncaseRecipients
                ),
                store: store,
                clock: SQLiteMailStore.systemTime,
                logger: Logger(label: "corvid.lmtp"),
                replicaAck: ackBoard,
                writeGate: writeGate
            )
            let service = try await bindOrExplain("lmtp_listen", address) {
                try await LMTPService.bind(
                    address,
                    group: group,
                    connection: lmtp,
                    idleTimeout: .seconds(Int64(config.lmtpTimeout)),
                    logger: Logger(label: "corvid.lmtp")
                )
            }
            announce("lmtp  listening on \(address)")
            services.append(service)
        }
        if let address = config.httpListen {
            let service = try await bindOrExplain("http_listen", address) {
                try await HTTPService(
                    address: address,
                    group: group,
                    registry: registry,
                    status: { await statusPage(config: config, store: store) },
                    logger: Logger(label: "corvid.http")
                )
            }
            announce("http  listening on \(address) (/metrics, status page at /)")
            services.append(service)
        }
        // One TLS identity for every session listener (generated once when none is configured).
        var tls: NIOSSLContext?
        if [config.imapListen, config.imapsListen, config.pop3Listen, config.pop3sListen].contains(where: { $0 != nil })
        {
            do {
                tls = try TLSMaterial.makeServerContext(for: config)
            } catch {
                throw RuntimeError("TLS: \(error)")
            }
        }
        let authenticator = StoreAuthenticator(store: store, cache: CredentialCache(), pool: NIOThreadPool.singleton)
        // A replica: csync on sync_listen, and the IMAP flavour (X-REPLICATION) on the IMAP port.
        var syncConnection: SyncServerConnection?
        if config.syncListen != nil {
            syncConnection = SyncServerConnection(
                configuration: SyncServerConfiguration(
                    serverName: config.serverName,
                    admins: Set(config.admins),
                    allowPlaintext: config.allowPlaintext,
                    startTLSAvailable: tls != nil,
                    compressionAvailable: true,
                    partitions: Set(config.partitions.keys),
                    promotionAvailable: true
                ),
                store: store,
                authenticator: authenticator,
                logger: Logger(label: "corvid.sync")
            )
        }
        if config.imapListen != nil || config.imapsListen != nil {
            services += try await imapServices(
                config: config,
                store: store,
                authenticator: authenticator,
                replication: syncConnection.map { IMAPReplicationBridge(connection: $0) },
                replicaAck: ackBoard,
                writeGate: writeGate,
                tls: tls,
                group: group,
                announce: announce
            )
        }
        if config.pop3Listen != nil || config.pop3sListen != nil {
            services += try await pop3Services(
                config: config,
                store: store,
                authenticator: authenticator,
                writeGate: writeGate,
                tls: tls,
                group: group,
                announce: announce
            )
        }
        if let address = config.syncListen, let syncConnection {
            let service = try await bindOrExplain("sync_listen", address) {
                try await SessionService(
                    address,
                    group: group,
                    tls: tls,
                    implicitTLS: false,
                    idleTimeout: .seconds(Int64(config.syncTimeoutSeconds)),
                    farewell: "BYE idle for too long\r\n",
                    logger: Logger(label: "corvid.sync")
                ) { peer, input, transport, tlsActive in
                    try await syncConnection.run(peer: peer, input: input, transport: transport, tlsActive: tlsActive)
                }
            }
            announce("sync  listening on \(address) (csync replica, Cyrus sync_server compatible)")
            services.append(service)
        }
        if config.syncLog {
            services.append(
                RollingReplicationService(
                    store: store,
                    role: currentRole,
                    channels: config.syncChannels,
                    repeatInterval: config.syncRepeatInterval,
                    reconnectMaxWait: config.syncReconnectMaxWait,
                    verifyOnStart: lock.previousRunEndedUncleanly,
                    verifyEachSession: config.syncVerify,
                    ackBoard: ackBoard,
                    replyTimeout: .seconds(Int64(config.syncTimeoutSeconds)),
                    clock: SQLiteMailStore.systemTime
                )
            )
            for channel in config.syncChannels {
                announce("sync  rolling replication, channel \(channel.name) → \(channel.host):\(channel.port)")
            }
        }
        services.append(MaintenanceService(store: store, interval: .seconds(60), logger: Logger(label: "corvid.store")))
        services.append(
            ReplicationRoleService(
                store: store,
                gate: writeGate,
                current: currentRole,
                logger: Logger(label: "corvid.role")
            )
        )
        announce(
            "data  \(config.configDirectory) (metadata), \(config.partitions[config.defaultPartition]!) (messages)"
        )

        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await serviceGroup.run()
        lock.markCleanShutdown()
        withExtendedLifetime(lock) {}
        logger.info("corvid stopped cleanly")
    }

    /// The IMAP listeners (STARTTLS on `imap_listen`, implicit TLS on `imaps_listen`) and the
    /// hub that routes mailbox changes to their sessions.
    private static func imapServices(
        config: CorvidConfig,
        store: SQLiteMailStore,
        authenticator: StoreAuthenticator,
        replication: IMAPReplicationBridge?,
        replicaAck: ReplicaAckBoard?,
        writeGate: WriteGate,
        tls: NIOSSLContext?,
        group: EventLoopGroup,
        announce: @escaping @Sendable (String) -> Void
    ) async throws -> [any Service] {
        let hub = MailboxChangeHub()
        let logger = Logger(label: "corvid.imap")
        let connection = IMAPConnection(
            configuration: IMAPConfiguration(
                serverName: config.serverName,
                admins: Set(config.admins),
                altNamespace: config.altNamespace,
                unixHierarchySep: config.unixHierarchySep,
                allowPlaintext: config.allowPlaintext,
                startTLSAvailable: tls != nil,
                compressionAvailable: true,
                maxMessageSize: config.maxMessageSize,
                replicationAvailable: replication != nil,
                replicaAck: replicaAck,
                writeGate: writeGate
            ),
            store: store,
            hub: hub,
            authenticator: authenticator,
            clock: SQLiteMailStore.systemTime,
            logger: logger,
            replication: replication
        )
        let listeners = try await sessionListeners(
            [("imap_listen", config.imapListen, false), ("imaps_listen", config.imapsListen, true)],
            names: ("imap ", "imaps", "STARTTLS"),
            tls: tls,
            group: group,
            idleTimeout: .minutes(Int64(config.imapTimeoutMinutes)),
            farewell: "* BYE Autologout; idle for too long\r\n",
            inbox: true,
            logger: logger,
            announce: announce
        ) { peer, _, transport, tlsActive in
            // IMAP sessions idle for hours: their input comes through a SessionInbox, which
            // costs less to wait on than NIOAsyncChannel's stream.
            let input = try await transport.inbox()
            try await connection.run(peer: peer, input: input, transport: transport, tlsActive: tlsActive)
        }
        let services: [any Service] = [ChangeHubService(hub: hub, store: store)] + listeners
        return services
    }

    /// The POP3 listeners (STLS on `pop3_listen`, implicit TLS on `pop3s_listen`).
    private static func pop3Services(
        config: CorvidConfig,
        store: SQLiteMailStore,
        authenticator: StoreAuthenticator,
        writeGate: WriteGate,
        tls: NIOSSLContext?,
        group: EventLoopGroup,
        announce: @escaping @Sendable (String) -> Void
    ) async throws -> [any Service] {
        let logger = Logger(label: "corvid.pop3")
        let connection = POP3Connection(
            configuration: POP3Configuration(
                serverName: config.serverName,
                allowPlaintext: config.allowPlaintext,
                startTLSAvailable: tls != nil,
                minPollSeconds: config.popMinPollSeconds,
                pollPadding: config.popPollPadding,
                expireDays: config.popExpireDays,
                useIMAPFlags: config.popUseIMAPFlags,
                writeGate: writeGate
            ),
            store: store,
            authenticator: authenticator,
            clock: SQLiteMailStore.systemTime,
            logger: logger
        )
        // RFC 1939 §3: an idle session is closed without entering UPDATE (nothing deleted).
        return try await sessionListeners(
            [("pop3_listen", config.pop3Listen, false), ("pop3s_listen", config.pop3sListen, true)],
            names: ("pop3 ", "pop3s", "STLS"),
            tls: tls,
            group: group,
            idleTimeout: .minutes(Int64(config.popTimeoutMinutes)),
            farewell: "-ERR [SYS/TEMP] Autologout; idle for too long\r\n",
            logger: logger,
            announce: announce
        ) { peer, input, transport, tlsActive in
            try await connection.run(peer: peer, input: input, transport: transport, tlsActive: tlsActive)
        }
    }

    /// Binds a protocol's plain (layer upgrade offered) and implicit-TLS listeners, announcing
    /// each; `names` are (plain label, TLS label, upgrade command) for the announcement.
    private static func sessionListeners(
        _ listeners: [(key: String, address: ListenAddress?, implicitTLS: Bool)],
        names: (plain: String, tls: String, upgrade: String),
        tls: NIOSSLContext?,
        group: EventLoopGroup,
        idleTimeout: TimeAmount,
        farewell: String,
        inbox: Bool = false,
        logger: Logger,
        announce: @escaping @Sendable (String) -> Void,
        session: @escaping SessionService.Session
    ) async throws -> [any Service] {
        var services: [any Service] = []
        for (key, address, implicit) in listeners {
            guard let address else { continue }
            let service = try await bindOrExplain(key, address) {
                try await SessionService(
                    address,
                    group: group,
                    tls: tls,
                    implicitTLS: implicit,
                    idleTimeout: idleTimeout,
                    farewell: farewell,
                    inbox: inbox,
                    logger: logger,
                    session: session
                )
            }
            let label =
                implicit
                ? "\(names.tls) listening on \(address) (implicit TLS)"
                : "\(names.plain) listening on \(address) (\(names.upgrade))"
            announce(label)
            services.append(service)
        }
        return services
    }

    private static func bindOrExplain<T>(
        _ key: String,
        _ address: ListenAddress,
        _ body: () async throws -> T
    ) async throws -> T {
        do {
            return try await body()
        } catch {
            throw RuntimeError("\(key): cannot listen on \(address): \(error)")
        }
    }

    /// The status page: plain text an administrator can read at a glance.
    static func statusPage(config: CorvidConfig, store: SQLiteMailStore) async -> String {
        var lines = ["Corvid on \(config.serverName)", ""]
        lines.append("listeners:")
        if let lmtp = config.lmtpListen { lines.append("  lmtp  \(lmtp)") }
        if let imap = config.imapListen { lines.append("  imap  \(imap)") }
        if let imaps = config.imapsListen { lines.append("  imaps \(imaps)") }
        if let pop3 = config.pop3Listen { lines.append("  pop3  \(pop3)") }
        if let pop3s = config.pop3sListen { lines.append("  pop3s \(pop3s)") }
        if let sync = config.syncListen { lines.append("  sync  \(sync)") }
        if let http = config.httpListen { lines.append("  http  \(http)") }
        let users = (try? await store.users().count) ?? -1
        let mailboxes = (try? await store.mailboxes(under: nil).count) ?? -1
        lines.append("")
        lines.append("store: \(users) users, \(mailboxes) mailboxes")
        if config.syncLog { lines += await replicationStatus(config: config, store: store) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Each rolling channel: backlog, lag, last success, and its failing items with reasons.
    static func replicationStatus(config: CorvidConfig, store: SQLiteMailStore) async -> [String] {
        var lines = ["", "replication (sync_log):"]
        let now = SQLiteMailStore.systemTime()
        let failures = (try? await store.replicationFailures(channel: nil)) ?? []
        for channel in config.syncChannels {
            let cursor = try? await store.replicationCursor(channel.name)
            guard let feed = try? await store.changeFeedPosition(after: cursor?.sequence ?? 0) else { continue }
            var line = "  \(channel.name) → \(channel.host):\(channel.port): "
            if let cursor {
                let lag = feed.oldestPendingTime.map { max(0, now - $0) } ?? 0
                line += "backlog \(max(0, feed.newest - cursor.sequence)), lag \(Int(lag.rounded()))s"
                if let last = cursor.lastSuccess { line += ", last success \(Int((now - last).rounded()))s ago" }
            } else {
                line += "not caught up yet (first full sync pending)"
            }
            let own = failures.filter { $0.channel == channel.name }
            let quarantined = own.filter(\.quarantined).count
            line += ", \(quarantined) quarantined, \(own.count - quarantined) retrying"
            lines.append(line)
            for failure in own {
                lines.append(
                    "    \(failure.quarantined ? "QUARANTINED" : "retrying") \(failure.item) "
                        + "(\(failure.failures) failures): \(failure.reason)"
                )
            }
        }
        return lines
    }
}

#if os(Linux)
/// glibc's `mallopt` and its `M_ARENA_MAX` (from <malloc.h>, which the Glibc module does not
/// export).
@_silgen_name("mallopt")
private func setMallocOption(_ parameter: Int32, _ value: Int32) -> Int32
private let mallocArenaMax: Int32 = -8
#endif

/// Process-wide runtime set-up that must happen before any concurrency work.
public enum ProcessSetup {
    /// Makes NIO's event loops Swift Concurrency's global executor, so session tasks run on the
    /// threads that do their socket I/O instead of hopping between two thread pools per
    /// message (measured: most of LMTP's CPU went to those hand-offs). Call first, from the
    /// main thread.
    public static func useEventLoopsAsGlobalExecutor() {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        #if os(Linux)
        // Sessions allocate on every event loop and on the store's dispatch threads; with an
        // arena per thread, memory freed in one arena is not reused by another, and a server
        // with thousands of idle sessions keeps the high-water mark of every burst.
        _ = setMallocOption(mallocArenaMax, 2)
        #endif
    }
}
