import CorvidRuntime
import Testing

@Suite struct CorvidConfigTests {
    let minimal = "configdirectory: /var/lib/corvid\npartition-default: /var/spool/corvid\n"

    @Test func parsesCyrusStyleFile() throws {
        let text = """
            # Corvid test config
            configdirectory: /var/lib/corvid
            partition-default: spool   # relative to the file
            partition-archive: /archive
            servername: mx.example.com
            admins: cyrus admin
            lmtp_listen: 127.0.0.1:2424
            http_listen: [::1]:8080
            maxmessagesize: 1048576
            autocreate_quota: 102400
            autocreate_quota_messages: -1
            lmtp_downcase_rcpt: no
            """
        let config = try CorvidConfig.parse(text, baseDirectory: "/etc/corvid")
        #expect(config.configDirectory == "/var/lib/corvid")
        #expect(config.partitions == ["default": "/etc/corvid/spool", "archive": "/archive"])
        #expect(config.serverName == "mx.example.com")
        #expect(config.admins == ["cyrus", "admin"])
        #expect(config.lmtpListen == .tcp(host: "127.0.0.1", port: 2424))
        #expect(config.httpListen == .tcp(host: "::1", port: 8080))
        #expect(config.imapListen == nil, "a listener without a key is off when a file is given")
        #expect(config.maxMessageSize == 1_048_576)
        #expect(config.autocreateQuotaKiB == 102_400)
        #expect(config.autocreateQuotaMessages == nil)
        #expect(config.lmtpDowncaseRecipients == false)
        #expect(config.messageInlineMax == 64 * 1024, "default")
        #expect(try CorvidConfig.parse(minimal + "message_inline_max: 0\n", baseDirectory: "/").messageInlineMax == 0)
        #expect(config.warnings.isEmpty)
    }

    @Test(arguments: [
        ("lmtp_listen: 2424", "lmtp_listen"), ("lmtp_listen: localhost:99999", "lmtp_listen"),
        ("http_listen: /tmp/sock", "http_listen"), ("maxmessagesize: big", "maxmessagesize"),
        ("maxmessagesize: 10", "maxmessagesize"), ("lmtp_downcase_rcpt: maybe", "lmtp_downcase_rcpt"),
        ("autocreate_quota: -5", "autocreate_quota"), ("message_inline_max: -1", "message_inline_max"),
        ("partition-bad/name: /x", "partition-bad/name"),
    ])
    func badValuesNameTheKey(_ line: String, _ key: String) {
        #expect {
            try CorvidConfig.parse(minimal + line + "\n", baseDirectory: "/")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.key == key && error.description.contains(key) && !error.description.contains("\n")
        }
    }

    @Test func missingRequiredKeysAreReported() {
        #expect(throws: ConfigError.self) { try CorvidConfig.parse("partition-default: /x\n", baseDirectory: "/") }
        #expect(throws: ConfigError.self) { try CorvidConfig.parse("configdirectory: /x\n", baseDirectory: "/") }
        #expect(throws: ConfigError.self) { try CorvidConfig.parse(minimal + "no colon here\n", baseDirectory: "/") }
    }

    @Test func unknownKeysAreWarnedNotFatal() throws {
        let config = try CorvidConfig.parse(minimal + "sievedir: /x\n", baseDirectory: "/")
        #expect(config.warnings.count == 1 && config.warnings[0].contains("sievedir"))
    }

    @Test func unixSocketForLMTP() throws {
        let config = try CorvidConfig.parse(minimal + "lmtp_listen: /run/corvid/lmtp\n", baseDirectory: "/")
        #expect(config.lmtpListen == .unix(path: "/run/corvid/lmtp"))
    }

    @Test func syncMasterKeysAsCyrusHasThem() throws {
        let defaults = try CorvidConfig.parse(minimal, baseDirectory: "/")
        #expect(defaults.syncHost == nil && defaults.syncPort == 2005)
        #expect(defaults.syncAuthName == nil && defaults.syncPassword == nil)
        let text =
            minimal + "sync_host: replica.example.com\nsync_port: 12005\nsync_authname: cyrus\nsync_password: s3cret\n"
        let config = try CorvidConfig.parse(text, baseDirectory: "/")
        #expect(config.syncHost == "replica.example.com" && config.syncPort == 12005)
        #expect(config.syncAuthName == "cyrus" && config.syncPassword == "s3cret")
        #expect(config.warnings.isEmpty)
        #expect(throws: ConfigError.self) { try CorvidConfig.parse(minimal + "sync_port: 0\n", baseDirectory: "/") }
    }

    @Test func pop3KeysAsCyrusHasThem() throws {
        let defaults = try CorvidConfig.parse(minimal, baseDirectory: "/")
        #expect(defaults.popTimeoutMinutes == 10 && defaults.popMinPollSeconds == 0 && defaults.popPollPadding == 1)
        #expect(defaults.popExpireDays == nil && !defaults.popUseIMAPFlags && defaults.pop3Listen == nil)
        let text =
            minimal
            + "pop3_listen: 127.0.0.1:110\npop3s_listen: 127.0.0.1:995\npoptimeout: 15\npopminpoll: 5\n"
            + "poppollpadding: 3\npopexpiretime: 30\npopuseimapflags: yes\n"
        let config = try CorvidConfig.parse(text, baseDirectory: "/")
        #expect(config.pop3Listen == .tcp(host: "127.0.0.1", port: 110))
        #expect(config.pop3sListen == .tcp(host: "127.0.0.1", port: 995))
        #expect(config.popTimeoutMinutes == 15)
        #expect(config.popMinPollSeconds == 300, "minutes by default, as Cyrus")
        #expect(config.popPollPadding == 3 && config.popExpireDays == 30 && config.popUseIMAPFlags)
        #expect(config.warnings.isEmpty)
        // Durations take Cyrus's unit suffixes; -1 means never.
        #expect(try CorvidConfig.parse(minimal + "popminpoll: 90s\n", baseDirectory: "/").popMinPollSeconds == 90)
        #expect(try CorvidConfig.parse(minimal + "popminpoll: 1h\n", baseDirectory: "/").popMinPollSeconds == 3600)
        #expect(try CorvidConfig.parse(minimal + "popexpiretime: -1\n", baseDirectory: "/").popExpireDays == nil)
        #expect(try CorvidConfig.parse(minimal + "popexpiretime: 48h\n", baseDirectory: "/").popExpireDays == 2)
    }

    @Test(arguments: [
        ("poptimeout: 5", "poptimeout"), ("popminpoll: soon", "popminpoll"), ("popminpoll: -3", "popminpoll"),
        ("poppollpadding: 0", "poppollpadding"), ("popuseimapflags: sometimes", "popuseimapflags"),
        ("pop3_listen: nowhere", "pop3_listen"),
    ])
    func badPOP3ValuesNameTheKey(_ line: String, _ key: String) {
        badValuesNameTheKey(line, key)
    }

    @Test func embeddedDefaultsUseLoopbackAndWorkingDirectory() {
        let config = CorvidConfig.embeddedDefaults(workingDirectory: "/home/me")
        #expect(config.configDirectory == "/home/me/corvid-data/conf")
        #expect(config.lmtpListen == .tcp(host: "127.0.0.1", port: 2424))
        #expect(config.httpListen == .tcp(host: "127.0.0.1", port: 8080))
        #expect(config.pop3Listen == .tcp(host: "127.0.0.1", port: 1110))
        #expect(config.pop3sListen == .tcp(host: "127.0.0.1", port: 1995))
    }
}
