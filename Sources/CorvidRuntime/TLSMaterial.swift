import Crypto
import NIOSSL
import SwiftASN1
import X509

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The server's TLS identity and the `NIOSSLContext` every TLS listener and STARTTLS shares.
///
/// With `tls_server_cert` and `tls_server_key` set, those PEM files are used: the certificate file
/// holds the leaf first, then any intermediates. With neither set, a self-signed certificate is
/// generated on first start and kept in `<configdirectory>/tls/` (`server-cert.pem`, and
/// `server-key.pem` with mode 0600); later starts reuse it, even if `servername` has changed
/// (delete the two files to have them made anew). Connections need TLS 1.2 or newer.
package enum TLSMaterial {
    /// Directory under `configdirectory` that holds the generated identity.
    package static let generatedDirectoryName = "tls"
    /// File name of the generated certificate.
    package static let certificateFileName = "server-cert.pem"
    /// File name of the generated private key.
    package static let keyFileName = "server-key.pem"
    /// How long a generated certificate is valid.
    package static let generatedValidity: TimeInterval = 3652 * 24 * 3600

    /// The server context for `config`: the configured pair, or the generated one.
    ///
    /// Run once at start-up, before any listener binds: a failure here stops start-up with a
    /// message naming the file or key at fault.
    package static func makeServerContext(
        for config: CorvidConfig,
        now: Date = Date()
    ) throws(TLSMaterialError) -> NIOSSLContext {
        let paths = try identityPaths(for: config, now: now)
        return try makeServerContext(certificatePath: paths.certificate, keyPath: paths.key)
    }

    /// The certificate and key files the server will use, generating the self-signed pair when
    /// none is configured and none was generated before.
    package static func identityPaths(
        for config: CorvidConfig,
        now: Date = Date()
    ) throws(TLSMaterialError) -> (certificate: String, key: String) {
        switch (config.tlsServerCert, config.tlsServerKey) {
        case (let certificate?, let key?):
            return (certificate, key)
        case (.some, nil):
            throw TLSMaterialError(
                .incompleteConfiguration,
                path: nil,
                "tls_server_key is required with tls_server_cert"
            )
        case (nil, .some):
            throw TLSMaterialError(
                .incompleteConfiguration,
                path: nil,
                "tls_server_cert is required with tls_server_key"
            )
        case (nil, nil):
            let directory = config.configDirectory + "/" + generatedDirectoryName
            try ensureSelfSigned(in: directory, serverName: config.serverName, now: now)
            return (directory + "/" + certificateFileName, directory + "/" + keyFileName)
        }
    }

    /// Makes the self-signed pair in `directory` unless both files are already there.
    ///
    /// The key is written before the certificate and each write is atomic, so a crash leaves
    /// either both files, or a key alone, which the next start replaces.
    package static func ensureSelfSigned(
        in directory: String,
        serverName: String,
        now: Date
    ) throws(TLSMaterialError) {
        let certificatePath = directory + "/" + certificateFileName
        let keyPath = directory + "/" + keyFileName
        if DurableFile.exists(certificatePath) && DurableFile.exists(keyPath) { return }
        let pair: (certificatePEM: String, keyPEM: String)
        do {
            pair = try makeSelfSigned(serverName: serverName, now: now)
        } catch {
            throw TLSMaterialError(.generationFailed, path: directory, "\(error)")
        }
        do {
            try DurableFile.makeDirectories(directory, mode: 0o700)
            try DurableFile.writeAtomically(Array(pair.keyPEM.utf8), to: keyPath, mode: 0o600)
            try DurableFile.writeAtomically(Array(pair.certificatePEM.utf8), to: certificatePath, mode: 0o644)
        } catch {
            throw TLSMaterialError(.writeFailed, path: error.path, error.description)
        }
    }

    /// A new self-signed P-256 ECDSA certificate and its PKCS #8 key, both PEM.
    ///
    /// Subject CN is `serverName`; the subject alternative names are `serverName`, `localhost`
    /// and 127.0.0.1, so loopback clients verify it too. The serial number is 20 random bytes;
    /// validity starts an hour before `now` (clock skew) and lasts ten years.
    package static func makeSelfSigned(serverName: String, now: Date) throws -> (certificatePEM: String, keyPEM: String)
    {
        let key = P256.Signing.PrivateKey()
        let signingKey = Certificate.PrivateKey(key)
        let name = try DistinguishedName { CommonName(serverName) }
        var dnsNames = [serverName]
        if serverName.lowercased() != "localhost" { dnsNames.append("localhost") }
        let alternativeNames = SubjectAlternativeNames(
            dnsNames.map { GeneralName.dnsName($0) } + [.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))]
        )
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: signingKey.publicKey,
            notValidBefore: now - 3600,
            notValidAfter: now + generatedValidity,
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                // No KeyUsage: a trust store checks a self-signed anchor's signature over
                // itself, which a key usage without keyCertSign would forbid, and keyCertSign
                // beside CA:FALSE is contradictory (RFC 5280 §4.2.1.3).
                try ExtendedKeyUsage([.serverAuth])
                alternativeNames
            },
            issuerPrivateKey: signingKey
        )
        return (try certificate.serializeAsPEM().pemString, key.pemRepresentation)
    }

    /// A server context from PEM files, after checking that the key belongs to the certificate.
    package static func makeServerContext(
        certificatePath: String,
        keyPath: String
    ) throws(TLSMaterialError) -> NIOSSLContext {
        let certificateText = try readText(certificatePath)
        let keyText = try readText(keyPath)
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(Array(certificateText.utf8))
        } catch {
            throw TLSMaterialError(.invalidCertificate, path: certificatePath, "not a PEM certificate (\(error))")
        }
        guard !chain.isEmpty else {
            throw TLSMaterialError(.invalidCertificate, path: certificatePath, "no certificate in the file")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: Array(keyText.utf8), format: .pem)
        } catch {
            throw TLSMaterialError(.invalidKey, path: keyPath, "not a PEM private key (\(error))")
        }
        try checkKeyMatches(certificateText: certificateText, keyText: keyText, keyPath: keyPath)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSMaterialError(.contextFailed, path: certificatePath, "\(error)")
        }
    }

    /// Compares the leaf certificate's public key with the private key's, so a mismatched pair
    /// fails at start-up with a message naming both files rather than at the first handshake.
    private static func checkKeyMatches(
        certificateText: String,
        keyText: String,
        keyPath: String
    ) throws(TLSMaterialError) {
        let leaf: Certificate
        let privateKey: Certificate.PrivateKey
        do {
            // The first PEM block is the leaf; later blocks are intermediates.
            leaf = try Certificate(pemEncoded: firstPEMBlock(of: certificateText))
            privateKey = try Certificate.PrivateKey(pemEncoded: keyText)
        } catch {
            // A key type swift-certificates does not model: BoringSSL's own check still runs
            // when the context is made.
            return
        }
        guard leaf.publicKey == privateKey.publicKey else {
            throw TLSMaterialError(.keyMismatch, path: keyPath, "the private key does not belong to the certificate")
        }
    }

    private static func firstPEMBlock(of text: String) -> String {
        var lines: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lines.append(line)
            if line.hasPrefix("-----END ") { break }
        }
        return lines.joined(separator: "\n")
    }

    private static func readText(_ path: String) throws(TLSMaterialError) -> String {
        do {
            return String(decoding: try DurableFile.read(path), as: UTF8.self)
        } catch {
            throw TLSMaterialError(.unreadable, path: path, error.reason)
        }
    }
}

/// Why the TLS identity could not be loaded or made; its description is one line for the log.
package struct TLSMaterialError: Error, Equatable, CustomStringConvertible {
    /// A stable code for the kind of failure.
    package struct Code: Equatable, Sendable, CustomStringConvertible {
        private enum Base: String, Equatable, Sendable {
            case incompleteConfiguration, unreadable, invalidCertificate, invalidKey, keyMismatch
            case generationFailed, writeFailed, contextFailed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// Only one of `tls_server_cert` and `tls_server_key` is set.
        package static let incompleteConfiguration = Code(.incompleteConfiguration)
        /// A configured file cannot be read.
        package static let unreadable = Code(.unreadable)
        /// The certificate file holds no PEM certificate.
        package static let invalidCertificate = Code(.invalidCertificate)
        /// The key file holds no PEM private key.
        package static let invalidKey = Code(.invalidKey)
        /// The private key does not belong to the leaf certificate.
        package static let keyMismatch = Code(.keyMismatch)
        /// Making the self-signed certificate failed.
        package static let generationFailed = Code(.generationFailed)
        /// Writing the generated files failed.
        package static let writeFailed = Code(.writeFailed)
        /// BoringSSL refused the configuration.
        package static let contextFailed = Code(.contextFailed)

        package var description: String { base.rawValue }
    }

    package var code: Code
    /// The file at fault, when there is one.
    package var path: String?
    package var message: String

    init(_ code: Code, path: String?, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    package var description: String {
        var text = "TLS error (\(code))"
        if let path { text += ": \(path)" }
        return text + ": " + message
    }
}
