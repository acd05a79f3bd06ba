import Crypto
import Foundation
import NIOSSL
import PaddockCore
import X509

/// The session's own certificate authority: made when the session starts, its private key held only in this
/// process's memory (never written, never sent), its certificate given to the sandbox to trust. It signs one leaf
/// per intercepted host, and its name constraints let it vouch for those hosts only, so even a stolen key could
/// not impersonate any other.
public struct SessionAuthority: Sendable {
    /// PEM, for the sandbox's trust store.
    public let certificatePEM: String
    let certificate: Certificate
    private let key: Certificate.PrivateKey

    public init(session: String, hosts: [String], now: Date = Date()) throws {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let name = try DistinguishedName {
            OrganizationName("paddock")
            CommonName("paddock session \(session)")
        }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: key.publicKey,
            notValidBefore: now - 3600, notValidAfter: now + 90 * 86400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                Critical(NameConstraints(permittedDNSDomains: hosts))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key)
        self.key = key
        self.certificate = certificate
        self.certificatePEM = try certificate.serializeAsPEM().pemString
    }

    /// A certificate and key for `host`, signed by this authority, as NIOSSL takes them.
    func leaf(for host: String, now: Date = Date()) throws -> (NIOSSLCertificate, NIOSSLPrivateKey) {
        let leafKey = P256.Signing.PrivateKey()
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 90 * 86400, issuer: certificate.subject,
            subject: try DistinguishedName { CommonName(host) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName(host)])
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: key.publicKey).keyIdentifier)
            },
            issuerPrivateKey: key)
        return (
            try NIOSSLCertificate(bytes: Array(try leaf.serializeAsPEM().pemString.utf8), format: .pem),
            try NIOSSLPrivateKey(bytes: Array(leafKey.pemRepresentation.utf8), format: .pem)
        )
    }

    /// The server side of an intercepted connection to `host`: its leaf, HTTP/1.1 only. Public for the
    /// benchmark's own origins, which borrow an authority of their own.
    public func serverContext(for host: String) throws -> NIOSSLContext {
        let (certificate, key) = try leaf(for: host)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(certificate)], privateKey: .privateKey(key))
        configuration.applicationProtocols = ["http/1.1"]
        configuration.minimumTLSVersion = .tlsv12
        return try NIOSSLContext(configuration: configuration)
    }
}

/// What the gateway needs to terminate TLS for the hosts with credential or request rules.
public struct Interception: Sendable {
    public var secrets: SessionSecrets
    public var authority: SessionAuthority
    /// Whom upstream certificates must chain to: the system's roots. Tests put their own root here; nothing the
    /// sandbox can reach sets it (it is no config key).
    public var upstreamTrustRoots: NIOSSLTrustRoots
    /// Roots trusted besides those (the engine tests' vendor CA, from `testRootsVariable`).
    public var additionalUpstreamRoots: [NIOSSLAdditionalTrustRoots]

    public init(
        secrets: SessionSecrets, authority: SessionAuthority, upstreamTrustRoots: NIOSSLTrustRoots = .default,
        additionalUpstreamRoots: [NIOSSLAdditionalTrustRoots] = []
    ) {
        self.secrets = secrets
        self.authority = authority
        self.upstreamTrustRoots = upstreamTrustRoots
        self.additionalUpstreamRoots = additionalUpstreamRoots
    }

    /// For the engine tests only: a PEM file of roots the launcher's gateway trusts upstream besides the system's
    /// (the tests' own vendor origin). It is read from the launcher's environment, which nothing in the sandbox
    /// can set; the sandbox's bundles carry the same roots, so it sees what the gateway trusts.
    public static let testRootsVariable = "PADDOCK_TEST_UPSTREAM_CA_FILE"

    /// The names the authority may sign for: every host a rule intercepts.
    public static func hosts(_ secrets: SessionSecrets) -> [String] {
        Array(Set(secrets.credentials.map(\.rule.host) + secrets.requestRules.map(\.host))).sorted()
    }
}

extension Interception {
    /// The session authority's certificate alone, and the system's roots with it, in a folder of the session's
    /// own, mounted read-only here for every gateway transport (the relay's volume and a bound socket file carry
    /// no files).
    public static let directoryInSandbox = "/etc/paddock/trust"
    public static let certificateFile = "paddock-ca.pem"
    public static let bundleFile = "ca-bundle.pem"
    /// Where a host keeps its system roots; the first that exists is copied into the sandbox's bundle.
    public static let systemBundles = [
        "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem",
    ]

    /// For a session whose rules intercept some host: makes the authority, writes what the sandbox trusts into
    /// `directory`, and returns the interception with the variables that make common clients trust it. Nil when
    /// no rule intercepts anything: then every tunnel stays opaque and nothing is written.
    public static func prepare(
        _ secrets: SessionSecrets, session: String, directory: String,
        systemBundle: String? = systemBundles.first { FileManager.default.isReadableFile(atPath: $0) },
        testRoots: String? = ProcessInfo.processInfo.environment[testRootsVariable]
    ) throws -> (Interception, [String: String])? {
        let hosts = hosts(secrets)
        guard !hosts.isEmpty else { return nil }
        let authority = try SessionAuthority(session: session, hosts: hosts)
        var extra = ""
        var additional: [NIOSSLAdditionalTrustRoots] = []
        if let testRoots, !testRoots.isEmpty {
            guard let text = FileManager.default.contents(atPath: testRoots) else {
                throw PaddockError.fileSystem(
                    path: testRoots, message: "\(testRootsVariable) names a file that cannot be read")
            }
            extra = pem(text)
            additional = [.file(testRoots)]
        }
        let inside = directoryInSandbox
        var environment = ["NODE_EXTRA_CA_CERTS": inside + "/" + certificateFile]
        try write(extra + authority.certificatePEM, to: directory + "/" + certificateFile)
        // Variables that replace the system's roots get the system's roots and the session's together; with no
        // system bundle to copy they are left unset, so clients keep theirs (and only Node trusts the session).
        if let systemBundle, let roots = FileManager.default.contents(atPath: systemBundle) {
            try write(pem(roots) + extra + authority.certificatePEM, to: directory + "/" + bundleFile)
            for name in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"] {
                environment[name] = inside + "/" + bundleFile
            }
        }
        return (
            Interception(secrets: secrets, authority: authority, additionalUpstreamRoots: additional), environment
        )
    }

    private static func pem(_ data: Data) -> String {
        let text = String(decoding: data, as: UTF8.self)
        return text.hasSuffix("\n") || text.isEmpty ? text : text + "\n"
    }

    private static func write(_ text: String, to path: String) throws {
        guard
            FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o644])
        else {
            throw PaddockError.fileSystem(path: path, message: "cannot write the session's certificate")
        }
    }
}
