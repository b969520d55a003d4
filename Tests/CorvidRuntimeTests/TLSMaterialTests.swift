import Foundation
import Testing

@testable import CorvidRuntime

@Suite struct TLSMaterialTests {
    @Test func generatedIdentityIsPrivateAndReused() throws {
        let directory = try TemporaryDirectory()
        let config = directory.config()
        let first = try TLSMaterial.identityPaths(for: config)
        #expect(first.certificate == directory.path + "/conf/tls/server-cert.pem")
        #expect(first.key == directory.path + "/conf/tls/server-key.pem")
        #expect(try DurableFile.permissions(first.key) == 0o600)
        #expect(try DurableFile.permissions(first.certificate) == 0o644)
        #expect(try DurableFile.permissions(directory.path + "/conf/tls") == 0o700)
        let certificate = try DurableFile.read(first.certificate)
        let key = try DurableFile.read(first.key)
        #expect(String(decoding: key, as: UTF8.self).hasPrefix("-----BEGIN PRIVATE KEY-----"))

        let second = try TLSMaterial.identityPaths(for: config)
        #expect(second == first)
        #expect(try DurableFile.read(second.certificate) == certificate, "reused, not made anew")
        #expect(try DurableFile.read(second.key) == key)
        // No temporary files are left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/conf/tls").sorted()
        #expect(names == ["server-cert.pem", "server-key.pem"])
        _ = try TLSMaterial.makeServerContext(for: config)
    }

    @Test func aKeyWithoutItsCertificateIsReplaced() throws {
        let directory = try TemporaryDirectory()
        let config = directory.config()
        let paths = try TLSMaterial.identityPaths(for: config)
        let key = try DurableFile.read(paths.key)
        try FileManager.default.removeItem(atPath: paths.certificate)
        _ = try TLSMaterial.identityPaths(for: config)
        #expect(try DurableFile.read(paths.key) != key, "a half-written pair is made anew as a pair")
        _ = try TLSMaterial.makeServerContext(for: config)
    }

    @Test func mismatchedCertificateAndKeyAreRejected() throws {
        let one = try TemporaryDirectory()
        let two = try TemporaryDirectory()
        let a = try TLSMaterial.identityPaths(for: one.config())
        let b = try TLSMaterial.identityPaths(for: two.config())
        var config = one.config()
        config.tlsServerCert = a.certificate
        config.tlsServerKey = b.key
        #expect {
            try TLSMaterial.makeServerContext(for: config)
        } throws: { error in
            guard let error = error as? TLSMaterialError else { return false }
            return error.code == .keyMismatch && error.description.contains(b.key)
        }
    }

    @Test func unreadableOrInvalidFilesNameTheFile() throws {
        let directory = try TemporaryDirectory()
        let paths = try TLSMaterial.identityPaths(for: directory.config())
        #expect {
            try TLSMaterial.makeServerContext(certificatePath: directory.path + "/absent.pem", keyPath: paths.key)
        } throws: { error in
            (error as? TLSMaterialError)?.code == .unreadable
                && "\(error)".contains(directory.path + "/absent.pem")
        }
        #expect {
            // The key file is not a certificate.
            try TLSMaterial.makeServerContext(certificatePath: paths.key, keyPath: paths.key)
        } throws: { error in
            (error as? TLSMaterialError)?.code == .invalidCertificate
        }
        var config = directory.config()
        config.tlsServerCert = paths.certificate
        #expect {
            try TLSMaterial.makeServerContext(for: config)
        } throws: { error in
            (error as? TLSMaterialError)?.code == .incompleteConfiguration
        }
    }
}

/// A fresh directory under the system temporary directory, removed when the value is dropped.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "corvid-tls-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func config() -> CorvidConfig {
        var config = CorvidConfig.embeddedDefaults(workingDirectory: path)
        config.configDirectory = path + "/conf"
        return config
    }
}
