import CorvidRuntime
import Testing

@Suite struct CorvidConfigTLSTests {
    let minimal = "configdirectory: /var/lib/corvid\npartition-default: /var/spool/corvid\n"

    @Test func defaultsFollowCyrus3() throws {
        let config = try CorvidConfig.parse(minimal, baseDirectory: "/")
        #expect(config.imapsListen == nil)
        #expect(config.pop3sListen == nil)
        #expect(config.tlsServerCert == nil && config.tlsServerKey == nil)
        #expect(config.allowPlaintext == false)
        #expect(config.altNamespace == true)
        #expect(config.unixHierarchySep == true)
        #expect(config.imapTimeoutMinutes == 32)
        #expect(config.warnings.isEmpty)
        let embedded = CorvidConfig.embeddedDefaults(workingDirectory: "/home/me")
        #expect(embedded.allowPlaintext == false && embedded.imapTimeoutMinutes == 32)
    }

    @Test func parsesTheTLSAndIMAPKeys() throws {
        let text =
            minimal + """
                imaps_listen: 0.0.0.0:993
                pop3s_listen: [::]:995
                tls_server_cert: tls/cert.pem
                tls_server_key: /etc/ssl/private/corvid.key
                allowplaintext: yes
                altnamespace: no
                unixhierarchysep: off
                timeout: 45
                """
        let config = try CorvidConfig.parse(text, baseDirectory: "/etc/corvid")
        #expect(config.imapsListen == .tcp(host: "0.0.0.0", port: 993))
        #expect(config.pop3sListen == .tcp(host: "::", port: 995))
        #expect(config.tlsServerCert == "/etc/corvid/tls/cert.pem", "relative to the file")
        #expect(config.tlsServerKey == "/etc/ssl/private/corvid.key")
        #expect(config.allowPlaintext == true)
        #expect(config.altNamespace == false)
        #expect(config.unixHierarchySep == false)
        #expect(config.imapTimeoutMinutes == 45)
        #expect(config.warnings.isEmpty)
    }

    @Test(arguments: [
        ("imaps_listen: 993", "imaps_listen"), ("pop3s_listen: /run/pop3s", "pop3s_listen"),
        ("allowplaintext: perhaps", "allowplaintext"), ("altnamespace: 2", "altnamespace"),
        ("unixhierarchysep: slash", "unixhierarchysep"), ("timeout: 29", "timeout"),
        ("timeout: soon", "timeout"),
        // One of the pair alone names the one that is missing.
        ("tls_server_cert: /etc/cert.pem", "tls_server_key"), ("tls_server_key: /etc/key.pem", "tls_server_cert"),
    ])
    func badValuesNameTheKey(_ line: String, _ key: String) {
        #expect {
            try CorvidConfig.parse(minimal + line + "\n", baseDirectory: "/")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            return error.key == key && error.description.contains(key) && !error.description.contains("\n")
        }
    }
}
