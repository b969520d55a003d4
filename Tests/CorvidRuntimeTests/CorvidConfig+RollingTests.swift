import CorvidRuntime
import Testing

/// Rolling replication's keys, with Cyrus's names.
@Suite struct CorvidConfigRollingTests {
    let minimal = "configdirectory: /var/lib/corvid\npartition-default: /var/spool/corvid\n"

    func parse(_ text: String) throws -> CorvidConfig {
        try CorvidConfig.parse(minimal + text, baseDirectory: "/")
    }

    @Test func theDefaultChannelComesFromSyncHost() throws {
        let config = try parse("sync_log: 1\nsync_host: replica.example:2006\nsync_authname: repl\nsync_password: pw\n")
        #expect(config.syncLog)
        #expect(
            config.syncChannels == [
                SyncChannelConfig(
                    name: "default",
                    host: "replica.example",
                    port: 2006,
                    authName: "repl",
                    password: "pw"
                )
            ]
        )
        #expect(config.syncRepeatInterval == 0.1)
        #expect(config.syncReconnectMaxWait == 20)
        #expect(config.warnings.isEmpty)
    }

    @Test func namedChannelsFallBackToThePlainKeys() throws {
        let config = try parse(
            """
            sync_log: yes
            sync_log_channels: "" east west
            sync_host: main.example
            sync_authname: repl
            sync_password: pw
            east_sync_host: east.example
            east_sync_port: 3005
            west_sync_host: west.example:4005
            west_sync_password: other
            sync_repeat_interval: 250ms
            sync_reconnect_maxwait: 1m
            """
        )
        #expect(config.syncChannels.map(\.name) == ["default", "east", "west"])
        #expect(
            config.syncChannels[1]
                == SyncChannelConfig(name: "east", host: "east.example", port: 3005, authName: "repl", password: "pw")
        )
        #expect(
            config.syncChannels[2]
                == SyncChannelConfig(
                    name: "west",
                    host: "west.example",
                    port: 4005,
                    authName: "repl",
                    password: "other"
                )
        )
        #expect(config.syncRepeatInterval == 0.25)
        #expect(config.syncReconnectMaxWait == 60)
        #expect(config.warnings.isEmpty, "CHANNEL_sync_* keys of listed channels are known")
        #expect(try parse("sync_host: h\nnorth_sync_host: n\n").warnings.count == 1, "unlisted channel keys warn")
    }

    @Test(arguments: [
        ("sync_log: 1\n", "sync_host"),
        ("sync_log: 1\nsync_log_channels: east\n", "east_sync_host"),
        ("sync_log: 1\nsync_host: h\nsync_log_channels: default\n", "sync_log_channels"),
        ("sync_log: 1\nsync_host: h\nsync_repeat_interval: soon\n", "sync_repeat_interval"),
        ("sync_log: 1\nsync_host: h\nsync_reconnect_maxwait: 0\n", "sync_reconnect_maxwait"),
        ("sync_log: maybe\n", "sync_log"),
        ("sync_log: 1\nsync_host: h\nsync_ack: always\n", "sync_ack"),
        ("sync_log: 1\nsync_host: h\nsync_ack_timeout: 0\n", "sync_ack_timeout"),
    ])
    func badValuesNameTheKey(_ text: String, _ key: String) {
        #expect {
            try parse(text)
        } throws: { error in
            (error as? ConfigError)?.key == key
        }
    }

    /// `sync_ack: replica` for every channel, or `<channel>_sync_ack` for one.
    @Test func syncAckIsPerChannel() throws {
        let config = try parse(
            """
            sync_log: 1
            sync_log_channels: "" dr
            sync_host: near.example
            dr_sync_host: far.example
            sync_ack: replica
            dr_sync_ack: none
            sync_ack_timeout: 2s
            """
        )
        #expect(config.syncChannels.map(\.acknowledges) == [true, false])
        #expect(config.syncAckTimeout == 2)
        #expect(config.warnings.isEmpty, "\(config.warnings)")
        #expect(try parse("sync_log: 1\nsync_host: h\n").syncChannels.first?.acknowledges == false)
    }

    @Test func withoutSyncLogNothingIsRequired() throws {
        let config = try parse("sync_log_channels: east\n")
        #expect(!config.syncLog)
        #expect(config.syncChannels.isEmpty)
    }
}
