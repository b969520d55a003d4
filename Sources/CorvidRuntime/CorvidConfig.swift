import MailCore
import MailStoreSQLite

/// The server configuration, read from an `imapd.conf`-style file with Cyrus's key names.
///
/// ```
/// config-file = *( line LF )
/// line        = [ key ":" *WSP value ] [ *WSP "#" comment ]
/// ```
/// With no file, ``embeddedDefaults(workingDirectory:)`` gives a server that runs from the
/// current directory on unprivileged loopback ports. With a file, a listener whose key is
/// absent is off.
public struct CorvidConfig: Sendable, Equatable {
    public var configDirectory: String
    /// Partition name → directory (`partition-NAME`).
    public var partitions: [String: String]
    /// `defaultpartition`.
    public var defaultPartition: String
    public var serverName: String
    /// `admins`: users with administrative rights.
    public var admins: [String]
    public var lmtpListen: ListenAddress?
    public var imapListen: ListenAddress?
    public var pop3Listen: ListenAddress?
    public var syncListen: ListenAddress?
    public var httpListen: ListenAddress?
    /// `maxmessagesize`, bytes.
    public var maxMessageSize: Int
    /// `autocreate_quota`: STORAGE limit in KiB for new users; nil (Cyrus: 0 or -1) is unlimited.
    public var autocreateQuotaKiB: Int64?
    /// `autocreate_quota_messages`: MESSAGE limit for new users; nil is unlimited.
    public var autocreateQuotaMessages: Int64?
    public var lmtpMaxRecipients: Int
    public var lmtpMaxLineLength: Int
    public var lmtpDowncaseRecipients: Bool
    /// `lmtp_timeout`: seconds an idle LMTP connection is kept (RFC 5321 §4.5.3.2 suggests 300+).
    public var lmtpTimeout: Int
    /// `message_inline_max`: messages up to this many bytes are stored in the database row rather
    /// than in a file of their own (docs/decisions/0003); 0 stores every message as a file.
    public var messageInlineMax: Int = 64 * 1024
    /// `imaps_listen`: host:port for IMAP over implicit TLS (RFC 8314 §3.3); nil is off.
    public var imapsListen: ListenAddress? = nil
    /// `pop3s_listen`: host:port for POP3 over implicit TLS (RFC 8314 §3.3); nil is off.
    public var pop3sListen: ListenAddress? = nil
    /// `tls_server_cert`: PEM file with the server certificate, then any intermediates.
    ///
    /// Set together with ``tlsServerKey`` or not at all; with neither, a self-signed certificate is
    /// generated once under `<configdirectory>/tls/` (see `TLSMaterial`).
    public var tlsServerCert: String? = nil
    /// `tls_server_key`: PEM file with the private key of ``tlsServerCert``.
    public var tlsServerKey: String? = nil
    /// `allowplaintext`: whether LOGIN and plaintext SASL mechanisms are allowed before TLS.
    ///
    /// RFC 9051 §6.2.3: a server should refuse LOGIN on an unprotected connection; Cyrus's
    /// default is also no.
    public var allowPlaintext: Bool = false
    /// `altnamespace`: other users' and shared folders are shown under prefixes and personal folders
    /// beside INBOX rather than below it (Cyrus's alternate namespace; default yes, as Cyrus 3).
    public var altNamespace: Bool = true
    /// `unixhierarchysep`: clients see `/` as the hierarchy separator rather than `.` (default yes,
    /// as Cyrus 3).
    public var unixHierarchySep: Bool = true
    /// `timeout`: minutes of inactivity before an IMAP session is logged out; at least 30
    /// (RFC 9051 §5.4), default 32 as Cyrus.
    public var imapTimeoutMinutes: Int = 32
    /// `sync_timeout`: seconds of inactivity before a csync connection is closed (Cyrus: 1800);
    /// on a master, the longest it waits on a silent replica before it reconnects (Cyrus's
    /// sync_client uses it the same way, at least 3 s).
    public var syncTimeoutSeconds: Int = 1800
    /// `poptimeout`: minutes of inactivity before a POP3 session is closed (nothing deleted);
    /// at least 10 (RFC 1939 §3), default 10 as Cyrus.
    public var popTimeoutMinutes: Int = 10
    /// `popminpoll`: minimum time between POP3 logins to one maildrop, in seconds; 0 is none.
    public var popMinPollSeconds: Int = 0
    /// `poppollpadding`: how many early polls a client may bank against `popminpoll` (default 1).
    public var popPollPadding: Int = 1
    /// `popexpiretime`: days advertised as CAPA `EXPIRE`; nil (Cyrus: -1) is `NEVER`.
    public var popExpireDays: Int? = nil
    /// `popuseimapflags`: POP3 hides \Deleted messages and sets \Seen on retrieved ones.
    public var popUseIMAPFlags: Bool = false
    /// `sync_host`: the replica `corvid sync` replicates to (`host` or `host:port`); nil when unset.
    public var syncHost: String? = nil
    /// `sync_port`: the replica's csync port when `sync_host` names none (default 2005, the
    /// conventional `csync` service; Cyrus looks it up in /etc/services).
    public var syncPort: Int = 2005
    /// `sync_authname`: the replica admin `corvid sync` authenticates as (SASL PLAIN).
    public var syncAuthName: String? = nil
    /// `sync_password`: that admin's password. Never logged or printed.
    public var syncPassword: String? = nil
    /// `sync_log`: `corvid serve` replicates continuously to every channel (rolling
    /// replication), following the change feed.
    public var syncLog: Bool = false
    /// The rolling-replication channels: with `sync_log_channels` unset, one (`default`) from
    /// `sync_host` …; else one per listed name, `""` being that default channel.
    public var syncChannels: [SyncChannelConfig] = []
    /// `sync_repeat_interval`: seconds a rolling channel waits before looking at the feed again
    /// when nothing woke it (default 0.1; Cyrus 1).
    public var syncRepeatInterval: Double = 0.1
    /// `sync_reconnect_maxwait`: the longest wait, in seconds, between attempts to reach an
    /// absent replica (default 20, as Cyrus).
    public var syncReconnectMaxWait: Double = 20
    /// `sync_ack_timeout`: how long LMTP and APPEND wait for a `sync_ack: replica` channel
    /// before answering with a temporary failure.
    public var syncAckTimeout: Double = 10
    /// `sync_verify`: each rolling session (at start, after a lost session) first compares the
    /// whole replica, so writes it took while apart are merged back.
    public var syncVerify = true
    /// Warnings to log at start (unknown keys).
    public var warnings: [String] = []

    /// Every key this build understands, with a one-line description (README and warnings).
    public static let knownKeys: [(key: String, description: String)] = [
        ("configdirectory", "directory for the metadata database and lock files"),
        ("partition-NAME", "directory holding message files of partition NAME (partition-default is required)"),
        ("defaultpartition", "partition for new mailboxes (default: default)"),
        ("servername", "host name used in greetings and Received headers"),
        ("admins", "space-separated list of administrator users"),
        ("lmtp_listen", "host:port or /path/to/socket for LMTP"),
        ("imap_listen", "host:port for IMAP (STARTTLS offered; LOGIN needs TLS unless allowplaintext)"),
        ("pop3_listen", "host:port for POP3 (STLS offered; USER/PASS needs TLS unless allowplaintext)"),
        ("sync_listen", "host:port for the csync replica (Cyrus sync_server compatible; admins only)"),
        ("http_listen", "host:port for /metrics (Prometheus) and the status page"),
        ("maxmessagesize", "largest accepted message in bytes (default 52428800)"),
        ("autocreate_quota", "STORAGE quota in KiB given to new users; 0 or -1 means unlimited"),
        ("autocreate_quota_messages", "MESSAGE quota given to new users; 0 or -1 means unlimited"),
        ("lmtp_max_recipients", "recipients accepted in one LMTP transaction (default 1000)"),
        ("lmtp_max_line_length", "longest LMTP command line in bytes (default 4096)"),
        ("lmtp_downcase_rcpt", "lower-case recipient local parts (default yes)"),
        ("lmtp_timeout", "seconds before an idle LMTP connection is closed (default 300)"),
        (
            "message_inline_max",
            "messages up to this many bytes are stored in the database, not a file (default 65536; 0: always files)"
        ),
        ("imaps_listen", "host:port for IMAP over implicit TLS"),
        ("pop3s_listen", "host:port for POP3 over implicit TLS"),
        ("tls_server_cert", "PEM certificate chain (default: a self-signed one generated under configdirectory/tls)"),
        ("tls_server_key", "PEM private key of tls_server_cert"),
        ("allowplaintext", "allow LOGIN and plaintext SASL before TLS (default no)"),
        ("altnamespace", "alternate namespace: personal folders beside INBOX (default yes)"),
        ("unixhierarchysep", "'/' as the hierarchy separator instead of '.' (default yes)"),
        ("timeout", "minutes before an idle IMAP session is logged out; at least 30 (default 32)"),
        (
            "sync_timeout",
            "seconds before an idle csync connection is closed, or a master gives up on a silent replica (default 1800)"
        ),
        ("sync_host", "replica for `corvid sync`: host or host:port"),
        ("sync_port", "replica csync port when sync_host has none (default 2005)"),
        ("sync_authname", "replica admin user `corvid sync` authenticates as"),
        ("sync_password", "password of sync_authname (never logged)"),
        ("sync_log", "replicate continuously (rolling replication) to sync_host and each channel (default no)"),
        (
            "sync_log_channels",
            "rolling channels, each with CHANNEL_sync_host, _sync_port, _sync_authname, _sync_password"
        ),
        (
            "sync_repeat_interval",
            "longest wait before a rolling channel looks for changes: 100ms, 0.5, 1s (default 100ms)"
        ),
        ("sync_reconnect_maxwait", "longest wait between attempts to reach an absent replica: 20, 1m (default 20s)"),
        (
            "sync_verify",
            "each rolling session first compares the whole replica and merges what it took while apart (default yes)"
        ),
        ("sync_ack", "replica: LMTP 250 and APPEND OK wait until the replica holds the message (default none)"),
        (
            "sync_ack_timeout",
            "how long they wait before a temporary failure (451 / NO [UNAVAILABLE]): 10, 2s (default 10s)"
        ),
        ("poptimeout", "minutes before an idle POP3 session is closed; at least 10 (default 10)"),
        ("popminpoll", "minimum time between POP3 logins to a maildrop, minutes or with s/m/h/d (default 0)"),
        ("poppollpadding", "early POP3 polls a client may bank against popminpoll (default 1)"),
        ("popexpiretime", "days advertised as POP3 EXPIRE, or with s/m/h/d; -1 is NEVER (default -1)"),
        ("popuseimapflags", "POP3 hides \\Deleted messages and sets \\Seen on retrieved ones (default no)"),
    ]

    /// The configuration used when no file is given.
    public static func embeddedDefaults(workingDirectory: String) -> CorvidConfig {
        let base = workingDirectory + "/corvid-data"
        return CorvidConfig(
            configDirectory: base + "/conf",
            partitions: ["default": base + "/spool"],
            defaultPartition: "default",
            serverName: "localhost",
            admins: ["admin"],
            lmtpListen: ListenAddress(host: "127.0.0.1", port: 2424),
            imapListen: ListenAddress(host: "127.0.0.1", port: 1143),
            pop3Listen: ListenAddress(host: "127.0.0.1", port: 1110),
            syncListen: nil,
            httpListen: ListenAddress(host: "127.0.0.1", port: 8080),
            maxMessageSize: 50 * 1024 * 1024,
            autocreateQuotaKiB: nil,
            autocreateQuotaMessages: nil,
            lmtpMaxRecipients: 1000,
            lmtpMaxLineLength: 4096,
            lmtpDowncaseRecipients: true,
            lmtpTimeout: 300,
            imapsListen: ListenAddress(host: "127.0.0.1", port: 1993),
            pop3sListen: ListenAddress(host: "127.0.0.1", port: 1995)
        )
    }

    /// Parses a configuration file's text. Relative paths are resolved against `baseDirectory`.
    public static func parse(_ text: String, baseDirectory: String) throws(ConfigError) -> CorvidConfig {
        var values: [String: (value: String, line: Int)] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            line = line.trimmed()
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw ConfigError(line: index + 1, key: nil, message: "expected 'key: value'")
            }
            let key = String(line[..<colon].trimmed()).lowercased()
            let value = String(line[line.index(after: colon)...].trimmed())
            guard !key.isEmpty else { throw ConfigError(line: index + 1, key: nil, message: "empty key") }
            values[key] = (value, index + 1)
        }
        let reader = KeyReader(values: values, baseDirectory: baseDirectory)
        guard let configDirectory = try reader.path("configdirectory") else {
            throw ConfigError(line: nil, key: "configdirectory", message: "is required")
        }
        var partitions: [String: String] = [:]
        for key in values.keys where key.hasPrefix("partition-") {
            let name = String(key.dropFirst("partition-".count))
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw ConfigError(
                    line: values[key]?.line,
                    key: key,
                    message: "partition names are letters, digits and _"
                )
            }
            partitions[name] = try reader.path(key)
        }
        let defaultPartition = reader.string("defaultpartition") ?? "default"
        guard partitions[defaultPartition] != nil else {
            throw ConfigError(
                line: nil,
                key: "partition-\(defaultPartition)",
                message: "is required (directory for message files)"
            )
        }
        var config = CorvidConfig(
            configDirectory: configDirectory,
            partitions: partitions,
            defaultPartition: defaultPartition,
            serverName: reader.string("servername") ?? "localhost",
            admins: (reader.string("admins") ?? "").split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init),
            lmtpListen: try reader.listen("lmtp_listen", allowUnixSocket: true),
            imapListen: try reader.listen("imap_listen"),
            pop3Listen: try reader.listen("pop3_listen"),
            syncListen: try reader.listen("sync_listen"),
            httpListen: try reader.listen("http_listen"),
            maxMessageSize: try reader.integer("maxmessagesize", range: 1024...(2 << 30)) ?? 50 * 1024 * 1024,
            autocreateQuotaKiB: try reader.quota("autocreate_quota"),
            autocreateQuotaMessages: try reader.quota("autocreate_quota_messages"),
            lmtpMaxRecipients: try reader.integer("lmtp_max_recipients", range: 1...100_000) ?? 1000,
            lmtpMaxLineLength: try reader.integer("lmtp_max_line_length", range: 512...1_048_576) ?? 4096,
            lmtpDowncaseRecipients: try reader.bool("lmtp_downcase_rcpt") ?? true,
            lmtpTimeout: try reader.integer("lmtp_timeout", range: 10...86_400) ?? 300
        )
        config.messageInlineMax = try reader.integer("message_inline_max", range: 0...(16 * 1024 * 1024)) ?? 64 * 1024
        config.imapsListen = try reader.listen("imaps_listen")
        config.pop3sListen = try reader.listen("pop3s_listen")
        config.tlsServerCert = try reader.path("tls_server_cert")
        config.tlsServerKey = try reader.path("tls_server_key")
        // A certificate without its key (or the reverse) is a mistake, not a request for the
        // self-signed fallback: say which one is missing.
        switch (config.tlsServerCert, config.tlsServerKey) {
        case (.some, nil): throw reader.fail("tls_server_key", "is required when tls_server_cert is set")
        case (nil, .some): throw reader.fail("tls_server_cert", "is required when tls_server_key is set")
        default: break
        }
        config.allowPlaintext = try reader.bool("allowplaintext") ?? false
        config.altNamespace = try reader.bool("altnamespace") ?? true
        config.unixHierarchySep = try reader.bool("unixhierarchysep") ?? true
        config.imapTimeoutMinutes = try reader.integer("timeout", range: 30...10_080) ?? 32
        config.syncTimeoutSeconds = try reader.integer("sync_timeout", range: 3...86_400) ?? 1800
        config.popTimeoutMinutes = try reader.integer("poptimeout", range: 10...10_080) ?? 10
        config.popMinPollSeconds = try reader.duration("popminpoll", unit: 60, range: 0...(7 * 86_400)) ?? 0
        config.popPollPadding = try reader.integer("poppollpadding", range: 1...1_000) ?? 1
        if let seconds = try reader.duration("popexpiretime", unit: 86_400, range: -86_400...(36_500 * 86_400)),
            seconds >= 0
        {
            config.popExpireDays = seconds / 86_400
        }
        config.popUseIMAPFlags = try reader.bool("popuseimapflags") ?? false
        config.syncHost = reader.string("sync_host")
        config.syncPort = try reader.integer("sync_port", range: 1...65535) ?? 2005
        config.syncAuthName = reader.string("sync_authname")
        config.syncPassword = reader.string("sync_password")
        config.syncLog = try reader.bool("sync_log") ?? false
        config.syncRepeatInterval = try reader.seconds("sync_repeat_interval", range: 0.001...3_600) ?? 0.1
        config.syncReconnectMaxWait = try reader.seconds("sync_reconnect_maxwait", range: 0.01...86_400) ?? 20
        config.syncAckTimeout = try reader.seconds("sync_ack_timeout", range: 0.01...3_600) ?? 10
        config.syncVerify = try reader.bool("sync_verify") ?? true
        config.syncChannels = try reader.syncChannels(defaultPort: config.syncPort, required: config.syncLog)
        let channelKeys = Set(
            config.syncChannels.filter { $0.name != SyncChannelConfig.defaultName }.flatMap { channel in
                ["sync_host", "sync_port", "sync_authname", "sync_password", "sync_ack"].map { "\(channel.name)_\($0)" }
            }
        )
        let known = Set(knownKeys.map(\.key)).union(channelKeys)
        for key in values.keys.sorted() where !known.contains(key) && !key.hasPrefix("partition-") {
            config.warnings.append("unknown config key '\(key)' (line \(values[key]!.line)) ignored")
        }
        return config
    }
}

/// A listener address: TCP `host:port` (IPv6 as `[addr]:port`) or a UNIX socket path.
public enum ListenAddress: Sendable, Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    public init(host: String, port: Int) { self = .tcp(host: host, port: port) }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): path
        }
    }
}

/// One rolling-replication channel's replica (`sync_host` … or `CHANNEL_sync_host` …).
public struct SyncChannelConfig: Sendable, Equatable {
    /// The channel's name; ``defaultName`` for the one the plain `sync_*` keys configure.
    public var name: String
    public var host: String
    public var port: Int
    public var authName: String?
    /// Never logged or printed.
    public var password: String?
    /// `sync_ack: replica` (or `<channel>_sync_ack`): LMTP's 250 and APPEND's OK wait until
    /// this channel's replica holds the message.
    public var acknowledges: Bool

    public init(
        name: String,
        host: String,
        port: Int,
        authName: String?,
        password: String?,
        acknowledges: Bool = false
    ) {
        self.name = name
        self.host = host
        self.port = port
        self.authName = authName
        self.password = password
        self.acknowledges = acknowledges
    }

    /// The name of the channel `sync_host` configures (`""` in `sync_log_channels`).
    public static let defaultName = "default"

    /// `host`, `host:port` or `[v6]:port`, with `defaultPort` when none is given; nil if bad.
    public static func split(_ text: String, defaultPort: Int) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), !text.hasPrefix("[") || text[..<colon].hasSuffix("]") else {
            return text.isEmpty || text.hasPrefix("[") ? nil : (text, defaultPort)
        }
        if !text.hasPrefix("["), text[..<colon].contains(":") { return (text, defaultPort) }  // bare IPv6
        let host = String(text[..<colon].filter { $0 != "[" && $0 != "]" })
        guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port), !host.isEmpty else {
            return nil
        }
        return (host, port)
    }
}

/// A configuration error; its description is the one line printed before start-up stops.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var line: Int?
    public var key: String?
    public var message: String

    public var description: String {
        var text = "config error"
        if let line { text += " at line \(line)" }
        if let key { text += ": \(key)" }
        return text + ": " + message
    }
}

private struct KeyReader {
    let values: [String: (value: String, line: Int)]
    let baseDirectory: String

    func string(_ key: String) -> String? {
        guard let value = values[key]?.value, !value.isEmpty else { return nil }
        return value
    }

    func fail(_ key: String, _ message: String) -> ConfigError {
        ConfigError(line: values[key]?.line, key: key, message: message)
    }

    func path(_ key: String) throws(ConfigError) -> String? {
        guard let value = string(key) else { return nil }
        guard !value.contains("\0") else { throw fail(key, "path contains a NUL byte") }
        return value.hasPrefix("/") ? value : baseDirectory + "/" + value
    }

    func integer(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let value = string(key) else { return nil }
        guard let number = Int(value) else { throw fail(key, "expected a whole number, got '\(value)'") }
        guard range.contains(number) else {
            throw fail(key, "must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
        }
        return number
    }

    /// A Cyrus duration: a number in `unit` seconds, or with a suffix `s`, `m`, `h` or `d`
    /// (`popminpoll: 10`, `popminpoll: 90s`); the result is in seconds. `-1` stays negative.
    func duration(_ key: String, unit: Int, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let value = string(key)?.lowercased() else { return nil }
        let multipliers: [Character: Int] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        var digits = Substring(value)
        var multiplier = unit
        if let last = digits.last, let suffix = multipliers[last] {
            multiplier = suffix
            digits = digits.dropLast()
        }
        guard let number = Int(digits), abs(number) <= 1_000_000_000 else {
            throw fail(key, "expected a duration such as 10, 90s, 5m, 2h or 1d, got '\(value)'")
        }
        let seconds = number < 0 ? number * unit : number * multiplier
        guard range.contains(seconds) else {
            throw fail(key, "must be between \(range.lowerBound) and \(range.upperBound) seconds, got \(seconds)")
        }
        return seconds
    }

    /// A duration that may be under a second: seconds (`0.1`, `2`), or with a suffix `ms`,
    /// `s`, `m` or `h` (`100ms`, `20s`, `1m`); the result is in seconds.
    func seconds(_ key: String, range: ClosedRange<Double>) throws(ConfigError) -> Double? {
        guard let value = string(key)?.lowercased() else { return nil }
        var digits = Substring(value)
        var multiplier = 1.0
        for (suffix, factor) in [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3_600)] where digits.hasSuffix(suffix) {
            multiplier = factor
            digits = digits.dropLast(suffix.count)
            break
        }
        guard let number = Double(digits), number.isFinite, number >= 0 else {
            throw fail(key, "expected a duration such as 100ms, 0.5, 20s or 1m, got '\(value)'")
        }
        let seconds = number * multiplier
        guard range.contains(seconds) else {
            throw fail(key, "must be between \(range.lowerBound) and \(range.upperBound) seconds, got \(seconds)")
        }
        return seconds
    }

    /// The rolling-replication channels (`sync_log_channels`; Cyrus's `sync_get_config`: a
    /// channel's `CHANNEL_sync_*` key, else the plain `sync_*` one). With `required`, each must
    /// have a host.
    func syncChannels(defaultPort: Int, required: Bool) throws(ConfigError) -> [SyncChannelConfig] {
        var names: [String] = [SyncChannelConfig.defaultName]
        if let list = string("sync_log_channels") {
            names = []
            for token in list.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" }) {
                let name = token == "\"\"" ? SyncChannelConfig.defaultName : String(token)
                if token != "\"\"" && name == SyncChannelConfig.defaultName {
                    throw fail("sync_log_channels", "'default' names the unnamed channel; write \"\" for it")
                }
                guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                    throw fail("sync_log_channels", "channel names are letters, digits, _ and -, got '\(name)'")
                }
                if !names.contains(name) { names.append(name) }
            }
        }
        var channels: [SyncChannelConfig] = []
        for name in names {
            func key(_ base: String) -> String {
                let own = name == SyncChannelConfig.defaultName ? base : "\(name)_\(base)"
                return string(own) == nil ? base : own
            }
            guard let hostText = string(key("sync_host")) else {
                guard required else { continue }
                let own = name == SyncChannelConfig.defaultName ? "sync_host" : "\(name)_sync_host"
                throw fail(own, "is required with sync_log (the replica of channel \(name))")
            }
            let port = try integer(key("sync_port"), range: 1...65535) ?? defaultPort
            guard let (host, hostPort) = SyncChannelConfig.split(hostText, defaultPort: port) else {
                throw fail(key("sync_host"), "expected host or host:port, got '\(hostText)'")
            }
            let ack = string(key("sync_ack"))?.lowercased() ?? "none"
            guard ack == "none" || ack == "replica" else {
                throw fail(key("sync_ack"), "expected none or replica, got '\(ack)'")
            }
            channels.append(
                SyncChannelConfig(
                    name: name,
                    host: host,
                    port: hostPort,
                    authName: string(key("sync_authname")),
                    password: string(key("sync_password")),
                    acknowledges: ack == "replica"
                )
            )
        }
        return channels
    }

    func quota(_ key: String) throws(ConfigError) -> Int64? {
        guard let value = string(key) else { return nil }
        guard let number = Int64(value), number >= -1 else {
            throw fail(key, "expected a whole number ≥ -1, got '\(value)'")
        }
        return number > 0 ? number : nil
    }

    func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let value = string(key)?.lowercased() else { return nil }
        switch value {
        case "1", "yes", "on", "true", "t": return true
        case "0", "no", "off", "false", "f": return false
        default: throw fail(key, "expected yes or no, got '\(value)'")
        }
    }

    func listen(_ key: String, allowUnixSocket: Bool = false) throws(ConfigError) -> ListenAddress? {
        guard let value = string(key) else { return nil }
        if value.hasPrefix("/") {
            guard allowUnixSocket else { throw fail(key, "expected host:port, got a path") }
            return .unix(path: value)
        }
        let host: String
        let portText: Substring
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]"), value[value.index(after: close)...].hasPrefix(":") else {
                throw fail(key, "expected [ipv6]:port, got '\(value)'")
            }
            host = String(value[value.index(after: value.startIndex)..<close])
            portText = value[value.index(close, offsetBy: 2)...]
        } else {
            guard let colon = value.lastIndex(of: ":") else { throw fail(key, "expected host:port, got '\(value)'") }
            host = String(value[..<colon])
            portText = value[value.index(after: colon)...]
        }
        guard !host.isEmpty else { throw fail(key, "expected host:port, got '\(value)'") }
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw fail(key, "port must be 1-65535, got '\(portText)'")
        }
        return .tcp(host: host, port: port)
    }
}

extension Substring {
    fileprivate func trimmed() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        return s
    }
}

extension CorvidConfig {
    /// The store settings this configuration asks for.
    public var storeConfiguration: SQLiteMailStore.Configuration {
        SQLiteMailStore.Configuration(
            configDirectory: configDirectory,
            partitions: partitions,
            defaultPartition: defaultPartition,
            inlineLimit: messageInlineMax
        )
    }
}
