import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PaddockCore
import Testing

@testable import PaddockGateway

/// Credentials added at the gateway, end to end on 127.0.0.1: the sandbox side (the test's client) holds only the
/// placeholder and trusts only the session authority; the test's own TLS origins stand in for the vendors, trusted
/// by the gateway through the test-only `upstreamTrustRoots` override.
@Suite("Gateway interception: credentials and request rules")
struct InterceptionTests {
    static let secret = "sk-REAL-0123456789-secret"
    static let session = SessionID("20261201-221000-00ab")!

    /// Two HTTPS origins of the test's own (`origin.test`, `other.test`) and the rules under test.
    struct World {
        let origin: Origin
        let other: Origin
        let originCertificate: TestCertificate
        let otherCertificate: TestCertificate
        let secrets: SessionSecrets
        let interception: Interception
        let seen: NIOLockedValueBox<[String]>

        var placeholder: String { secrets.sandboxEnvironment["K"] ?? "" }
        var otherPlaceholder: String { secrets.sandboxEnvironment["O"] ?? "" }
        var allow: [String] { ["origin.test:\(origin.port)", "other.test:\(other.port)", "127.0.0.1/32"] }
        var hosts: [String: String] { ["origin.test": "127.0.0.1", "other.test": "127.0.0.1"] }

        /// The session authority as the only root: what the sandbox's clients trust for intercepted hosts.
        func sandboxTLS() throws -> NIOSSLContext {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates([
                try NIOSSLCertificate(bytes: Array(interception.authority.certificatePEM.utf8), format: .pem)
            ])
            configuration.applicationProtocols = ["http/1.1"]
            return try NIOSSLContext(configuration: configuration)
        }

        /// What a client that ignores the session's roots trusts: `certificate` only. A short shutdown wait, since
        /// the origin that ended the session will not answer a close_notify.
        static func directTLS(_ certificate: TestCertificate) throws -> NIOSSLContext {
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.trustRoots = .certificates([certificate.certificate])
            configuration.shutdownTimeout = .milliseconds(100)
            return try NIOSSLContext(configuration: configuration)
        }

        func close() async {
            await origin.close()
            await other.close()
        }
    }

    static func world(
        requests: [RequestRule] = [], originServes served: TestCertificate? = nil,
        otherRule: Bool = true, raggedOrigin: RaggedAnswerHandler.Framing? = nil
    ) async throws -> World {
        let originCertificate = try TestCertificate.make(name: "origin.test")
        let otherCertificate = try TestCertificate.make(name: "other.test")
        let seen = NIOLockedValueBox<[String]>([])
        let origin = try await Origin.start {
            let tls = NIOSSLServerHandler(context: try (served ?? originCertificate).serverContext())
            if let raggedOrigin {
                let cutter = WireCutter()
                return [cutter, tls, RaggedAnswerHandler(framing: raggedOrigin, cutter: cutter)]
            }
            return [
                tls, HTTPResponseEncoder(), ByteToMessageHandler(HTTPRequestDecoder()),
                HeaderEchoHandler(name: "origin", seen: seen),
            ]
        }
        let other = try await Origin.start {
            [
                NIOSSLServerHandler(context: try otherCertificate.serverContext()), HTTPResponseEncoder(),
                ByteToMessageHandler(HTTPRequestDecoder()), HeaderEchoHandler(name: "other", seen: seen),
            ]
        }
        var rules = [CredentialRule(host: "origin.test", port: origin.port, header: .apiKey, variable: "K")]
        if otherRule {
            rules.append(
                CredentialRule(
                    host: "other.test", port: other.port, header: .authorization(scheme: "Bearer"), variable: "O"))
        }
        let requestRules = requests.map { rule -> RequestRule in
            var rule = rule
            rule.port = rule.host == "other.test" ? other.port : origin.port
            return rule
        }
        let secrets = try SessionSecrets.resolve(
            userRules: rules, profileRules: [], requestRules: requestRules,
            environment: ["K": secret, "O": "other-REAL-secret"], home: "/h", session: session)
        let authority = try SessionAuthority(session: session.rawValue, hosts: Interception.hosts(secrets))
        let interception = Interception(
            secrets: secrets, authority: authority,
            upstreamTrustRoots: .certificates([originCertificate.certificate, otherCertificate.certificate]))
        return World(
            origin: origin, other: other, originCertificate: originCertificate, otherCertificate: otherCertificate,
            secrets: secrets, interception: interception, seen: seen)
    }

    /// A gateway with `world`'s rules; `body` gets a TLS conversation with `host` through it.
    static func through<T>(
        _ world: World, _ host: String, trust: NIOSSLContext? = nil,
        _ body: (inout Conversation, GatewayFixture) async throws -> T
    ) async throws -> (T, [ConnectionRecord]) {
        try await GatewayFixture.with(
            allow: world.allow, hosts: world.hosts, configure: { $0.interception = world.interception }
        ) {
            gateway in
            let port = host == "origin.test" ? world.origin.port : world.other.port
            let result = try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws -> T in
                let head = try await client.connect("\(host):\(port)")
                #expect(head == "HTTP/1.1 200 Connection established\r\n\r\n")
                try await client.startTLS(try trust ?? world.sandboxTLS(), serverHostname: host)
                return try await body(&client, gateway)
            }
            return (result, try await gateway.records(atLeast: 1))
        }
    }

    static func exchange(_ client: inout Conversation, _ request: String) async throws -> (head: String, body: String) {
        try await client.send(request)
        let head = try await client.readHead()
        let body = String(buffer: try await client.read(count: LoopbackTests.contentLength(head)))
        return (head, body)
    }

    // MARK: the secret reaches its host, and only there

    @Test func theOriginGetsTheSecretAndTheSandboxSideNeverSeesIt() async throws {
        let world = try await Self.world()
        defer { Task { await world.close() } }
        let (transcript, records) = try await Self.through(world, "origin.test") { client, gateway in
            var transcript = ""
            for path in ["/v1/messages?beta=true", "/v1/second"] {
                let (head, body) = try await Self.exchange(
                    &client,
                    "POST \(path) HTTP/1.1\r\nHost: origin.test:\(world.origin.port)\r\nx-api-key: \(world.placeholder)\r\n"
                        + "Content-Length: 2\r\n\r\nhi")
                #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
                #expect(body.contains("x-api-key: \(Self.secret)\n"), "\(body)")
                transcript += head
            }
            return transcript
        }
        // The client got answers, never the secret (the echo origin's body is the one place it appears).
        #expect(!transcript.contains(Self.secret))
        let requests = records.filter { $0.protocol == "https" }
        #expect(requests.map(\.method) == ["POST", "POST"])
        #expect(requests.map(\.path) == ["/v1/messages", "/v1/second"])
        #expect(
            requests.allSatisfy { $0.status == 200 && $0.credential == true && $0.bytesUp == 2 && $0.bytesDown > 0 })
        for record in records {
            #expect(!record.jsonLine().contains(Self.secret) && !record.jsonLine().contains(world.placeholder))
            #expect(!record.jsonLine().contains("beta=true"))
        }
    }

    @Test func thePlaceholderAnywhereElseGoesOnAsSentAndIsReported() async throws {
        let world = try await Self.world()
        defer { Task { await world.close() } }
        let p = world.placeholder
        let (_, records) = try await Self.through(world, "origin.test") { client, _ in
            let (head, body) = try await Self.exchange(
                &client,
                "POST /x?key=\(p) HTTP/1.1\r\nHost: origin.test\r\nX-Other: \(p)\r\nAuthorization: Bearer \(p)\r\n"
                    + "Cookie: k=\(p)\r\nx-api-key: prefix-\(p)\r\nContent-Length: \(p.utf8.count)\r\n\r\n\(p)")
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(!body.contains(Self.secret), "\(body)")
            #expect(body.contains("uri=/x?key=\(p)") && body.contains("x-other: \(p)") && body.contains("body=\(p)"))
            #expect(body.contains("x-api-key: prefix-\(p)"))
        }
        let request = try #require(records.first { $0.protocol == "https" })
        #expect(request.credential == false)
        #expect(request.error?.contains("placeholder") == true)

        // In the body alone, it is reported too.
        let (_, bodyOnly) = try await Self.through(world, "origin.test") { client, _ in
            let (head, body) = try await Self.exchange(
                &client, "POST /gist HTTP/1.1\r\nHost: origin.test\r\nContent-Length: \(p.utf8.count + 2)\r\n\r\n[\(p)]"
            )
            #expect(head.hasPrefix("HTTP/1.1 200") && body.contains("body=[\(p)]") && !body.contains(Self.secret))
        }
        #expect(bodyOnly.contains { $0.path == "/gist" && $0.error?.contains("placeholder") == true })
    }

    /// Attack: the agent sends the placeholder astray on every request to flood the user's terminal during a
    /// full-screen session. The terminal hears of it once per session; the record of each request still says so.
    @Test func aStrayPlaceholderIsWarnedOncePerSessionAndRecordedEachTime() async throws {
        let world = try await Self.world()
        defer { Task { await world.close() } }
        let capture = WarningCapture()
        let records = try await GatewayFixture.with(
            allow: world.allow, hosts: world.hosts, logger: Logger(label: "test") { _ in capture },
            configure: { $0.interception = world.interception }
        ) { gateway in
            for _ in 0..<3 {
                try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                    #expect(try await client.connect("origin.test:\(world.origin.port)").hasPrefix("HTTP/1.1 200"))
                    try await client.startTLS(try world.sandboxTLS(), serverHostname: "origin.test")
                    for _ in 0..<2 {
                        let (head, _) = try await Self.exchange(
                            &client, "GET /x HTTP/1.1\r\nHost: origin.test\r\nX-Other: \(world.placeholder)\r\n\r\n")
                        #expect(head.hasPrefix("HTTP/1.1 200"))
                    }
                }
            }
            return try await gateway.records(atLeast: 9)
        }
        let recorded = records.filter { record in
            record.protocol == "https" && record.error?.contains("placeholder") == true
        }
        #expect(recorded.count == 6)
        let warned: [String] = capture.warnings.withLockedValue { $0 }
        #expect(warned.filter { $0.contains("placeholder") }.count == 1, "\(warned)")
    }

    @Test func thePlaceholderSentToAnotherAllowedHostIsNotReplaced() async throws {
        let world = try await Self.world()
        defer { Task { await world.close() } }
        let (_, records) = try await Self.through(world, "other.test") { client, _ in
            // origin.test's placeholder in other.test's own header, and in the header origin.test's rule names.
            let (head, body) = try await Self.exchange(
                &client,
                "GET / HTTP/1.1\r\nHost: other.test\r\nAuthorization: Bearer \(world.placeholder)\r\n"
                    + "x-api-key: \(world.placeholder)\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(!body.contains(Self.secret) && !body.contains("other-REAL-secret"), "\(body)")
            #expect(body.contains("authorization: Bearer \(world.placeholder)"))
        }
        let request = try #require(records.first { $0.protocol == "https" })
        #expect(request.credential == false && request.error?.contains("placeholder") == true)
    }

    @Test func aHostHeaderNamingAnotherHostIsRefused() async throws {
        let world = try await Self.world()
        defer { Task { await world.close() } }
        let (_, records) = try await Self.through(world, "origin.test") { client, _ in
            let (head, body) = try await Self.exchange(
                &client,
                "GET / HTTP/1.1\r\nHost: other.test:\(world.other.port)\r\nx-api-key: \(world.placeholder)\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 421"), "\(head)")
            #expect(!body.contains(Self.secret))
        }
        #expect(world.seen.withLockedValue { $0 }.isEmpty)
        #expect(records.contains { $0.protocol == "https" && $0.status == 421 && $0.credential == false })
        // Two Host headers, or none, are refused the same way.
        let (_, again) = try await Self.through(world, "origin.test") { client, _ in
            let (head, _) = try await Self.exchange(
                &client, "GET / HTTP/1.1\r\nHost: origin.test\r\nHost: other.test\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 421"))
        }
        #expect(again.contains { $0.status == 421 })
        #expect(world.seen.withLockedValue { $0 }.isEmpty)
    }

    // MARK: TLS on both sides

    @Test func anUpstreamWhoseCertificateIsNotTrustedIsA502WithTheReason() async throws {
        // origin.test serves a self-signed certificate the gateway does not trust.
        let stranger = try TestCertificate.make(name: "origin.test")
        let world = try await Self.world(originServes: stranger)
        defer { Task { await world.close() } }
        let (_, records) = try await Self.through(world, "origin.test") { client, _ in
            let (head, body) = try await Self.exchange(
                &client, "GET / HTTP/1.1\r\nHost: origin.test\r\nx-api-key: \(world.placeholder)\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 502"), "\(head)")
            #expect(body.contains("certificate"), "\(body)")
        }
        #expect(world.seen.withLockedValue { $0 }.isEmpty)
        #expect(records.contains { $0.protocol == "https" && $0.status == 502 && $0.error?.contains("TLS") == true })
    }

    /// Many origins (Python's http.server among them) end a connection without TLS's close_notify. After a
    /// complete handshake that is the end of the response, not a failed verification: the whole answer reaches the
    /// client, the record has no error, and the user's terminal hears nothing.
    @Test(arguments: [RaggedAnswerHandler.Framing.byClose, .byLength])
    func anOriginThatEndsWithoutCloseNotifyIsAnOrdinaryEnd(framing: RaggedAnswerHandler.Framing) async throws {
        let world = try await Self.world(raggedOrigin: framing)
        defer { Task { await world.close() } }
        let capture = WarningCapture(from: .notice)
        let records = try await GatewayFixture.with(
            allow: world.allow, hosts: world.hosts, logger: Logger(label: "test") { _ in capture },
            configure: { $0.interception = world.interception }
        ) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.connect("origin.test:\(world.origin.port)").hasPrefix("HTTP/1.1 200"))
                try await client.startTLS(try world.sandboxTLS(), serverHostname: "origin.test")
                try await client.send(
                    "GET /v1/stream HTTP/1.1\r\nHost: origin.test\r\nx-api-key: \(world.placeholder)\r\n\r\n")
                let head = try await client.readHead()
                #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
                let body =
                    head.lowercased().contains("transfer-encoding: chunked")
                    ? try await client.readChunkedBody()
                    : try await client.read(count: RaggedAnswerHandler.body.utf8.count)
                #expect(String(buffer: body) == RaggedAnswerHandler.body)
            }
            return try await gateway.records(atLeast: 2)
        }
        let request = try #require(records.first { $0.protocol == "https" })
        #expect(request.status == 200 && request.error == nil, "\(request)")
        #expect(request.bytesDown == UInt64(RaggedAnswerHandler.body.utf8.count))
        #expect(capture.warnings.withLockedValue { $0 }.isEmpty, "\(capture.warnings.withLockedValue { $0 })")
    }

    @Test func aClientThatRefusesTheSessionAuthorityGetsNothingThrough() async throws {
        let world = try await Self.world()
        defer { Task { await world.close() } }
        // This client trusts origin.test's real certificate only, as a client ignoring the session's roots would.
        let refusing = try World.directTLS(world.originCertificate)
        await #expect(throws: (any Error).self) {
            _ = try await Self.through(world, "origin.test", trust: refusing) { client, _ in
                try await client.send("GET / HTTP/1.1\r\nHost: origin.test\r\nx-api-key: \(world.placeholder)\r\n\r\n")
                return try await client.readToEnd()
            }
        }
        #expect(world.seen.withLockedValue { $0 }.isEmpty)
    }

    @Test func theSessionAuthorityVouchesOnlyForInterceptedHosts() throws {
        let authority = try SessionAuthority(session: "s", hosts: ["origin.test"])
        #expect(authority.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(!authority.certificatePEM.contains("PRIVATE KEY"))
        let constraints = try #require(try authority.certificate.extensions.nameConstraints)
        #expect(Array(constraints.permittedDNSDomains) == ["origin.test"])
    }

    // MARK: request rules

    @Test func requestRulesRefuseDeniedRequestsWithAHint() async throws {
        let rule = try RequestRule.parse(host: "origin.test", port: nil, allow: [], deny: ["POST */git-receive-pack"])
        let world = try await Self.world(requests: [rule])
        defer { Task { await world.close() } }
        let (_, records) = try await Self.through(world, "origin.test") { client, _ in
            let (head, body) = try await Self.exchange(
                &client, "POST /o/r.git/git-upload-pack HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 0\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200"), "\(head)")
            #expect(body.contains("uri=/o/r.git/git-upload-pack"))
            let (denied, hint) = try await Self.exchange(
                &client,
                "POST /o/r.git%2Fgit-receive-pack HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 4\r\n\r\npush")
            #expect(denied.hasPrefix("HTTP/1.1 403"), "\(denied)")
            #expect(denied.contains("X-Paddock-Rule: deny \"POST */git-receive-pack\" on origin.test"))
            #expect(hint.contains("[[network.requests]]"))
        }
        #expect(world.seen.withLockedValue { $0 } == ["origin POST /o/r.git/git-upload-pack"])
        #expect(records.filter { $0.protocol == "https" }.map(\.status) == [200, 403])
        #expect(records.contains { $0.decision == .deny && $0.path == "/o/r.git%2Fgit-receive-pack" })
    }

    /// Attack: request rules are read only on intercepted HTTPS to their own host:port, so the same host on another
    /// port (a CONNECT, or a plain http:// request, even to the rule's own port) would carry a denied push unread.
    /// The gateway refuses those, with the hint, before connecting anywhere.
    @Test func aHostWithRequestRulesIsReachableOnlyWhereTheRulesAreRead() async throws {
        let rule = try RequestRule.parse(host: "origin.test", port: nil, allow: [], deny: ["POST */git-receive-pack"])
        let world = try await Self.world(requests: [rule])
        defer { Task { await world.close() } }
        let allow = world.allow + ["origin.test:\(world.other.port)"]
        let records = try await GatewayFixture.with(
            allow: allow, hosts: world.hosts, configure: { $0.interception = world.interception }
        ) {
            gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                let head = try await client.connect("origin.test:\(world.other.port)")
                #expect(head.hasPrefix("HTTP/1.1 403"), "\(head)")
                #expect(head.contains("request rules"), "\(head)")
            }
            for port in [world.other.port, world.origin.port] {
                try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                    try await client.send(
                        "POST http://origin.test:\(port)/o/r.git/git-receive-pack HTTP/1.1\r\nHost: origin.test:\(port)\r\nContent-Length: 0\r\n\r\n"
                    )
                    let head = try await client.readHead()
                    #expect(head.hasPrefix("HTTP/1.1 403"), "\(port): \(head)")
                }
            }
            return try await gateway.records(atLeast: 3)
        }
        #expect(records.allSatisfy { $0.decision == .deny }, "\(records)")
        #expect(world.seen.withLockedValue { $0 }.isEmpty)
    }

    @Test func methodOverridesAndBypassesAreRefusedToo() async throws {
        let rule = try RequestRule.parse(host: "origin.test", port: nil, allow: [], deny: ["POST */git-receive-pack"])
        let world = try await Self.world(requests: [rule])
        defer { Task { await world.close() } }
        for request in [
            "GET /o/r.git/git-receive-pack HTTP/1.1\r\nHost: origin.test\r\nX-HTTP-Method-Override: POST\r\n\r\n",
            "POST //o/./x/../r.git//GIT-RECEIVE-PACK/ HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 0\r\n\r\n",
            "POST /o/r.git%252Fgit-receive-pack HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 0\r\n\r\n",
            "POST https://origin.test/o/r.git/git-receive-pack HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 0\r\n\r\n",
        ] {
            _ = try await Self.through(world, "origin.test") { client, _ in
                let (head, _) = try await Self.exchange(&client, request)
                #expect(head.hasPrefix("HTTP/1.1 403") || head.hasPrefix("HTTP/1.1 400"), "\(request): \(head)")
            }
        }
        #expect(world.seen.withLockedValue { $0 }.isEmpty)
    }

    // MARK: everything else stays as it was

    // MARK: framing: what the gateway checked is exactly what the origin reads

    /// The smuggling attack: a body framed in a way the gateway's decoder accepts but re-frames differently on the
    /// way out, so the origin reads part of the body as a request of its own (unchecked), and the next, checked
    /// request, the one that gets the real secret, becomes that smuggled request's body.
    @Test(arguments: [
        "GET /zen HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: Chunked\r\n\r\n",
        "GET /zen HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "GET /zen HTTP/1.1\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
        "TRACE /zen HTTP/1.1\r\nHost: HOST\r\nContent-Length: SMUGGLED_LENGTH\r\n\r\n",
        "POST /zen HTTP/1.0\r\nHost: HOST\r\nTransfer-Encoding: chunked\r\n\r\n",
    ])
    func aBodyTheOriginWouldReadAsARequestIsRefused(head: String) async throws {
        let world = try await Self.world()
        defer { Task { await world.close() } }
        let host = "origin.test:\(world.origin.port)"
        let smuggled = "POST /smuggled HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 300\r\n\r\n"
        let chunk = "0\r\n\r\n" + smuggled
        let body =
            head.contains("Content-Length")
            ? smuggled : String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n0\r\n\r\n"
        let first = head.replacingOccurrences(of: "HOST", with: host)
            .replacingOccurrences(of: "SMUGGLED_LENGTH", with: String(smuggled.utf8.count))
        _ = try await Self.through(world, "origin.test") { client, _ in
            try await client.send(first + body)
            let answer = try await client.readHead()
            #expect(answer.hasPrefix("HTTP/1.1 400"), "refused, not forwarded: \(answer)")
        }
        let seen = world.seen.withLockedValue { $0 }
        #expect(
            !seen.contains { $0.contains("/smuggled") }, "the origin read a request the gateway never checked: \(seen)")
        #expect(seen.isEmpty, "\(seen)")
    }

    /// A chunked body in the one form the gateway forwards as read: the origin gets it as a body.
    @Test func aChunkedBodyReachesTheOriginAsABody() async throws {
        let world = try await Self.world()
        defer { Task { await world.close() } }
        let host = "origin.test:\(world.origin.port)"
        let inner = "0\r\n\r\nPOST /smuggled HTTP/1.1\r\nHost: \(host)\r\nContent-Length: 300\r\n\r\n"
        let body = String(inner.utf8.count, radix: 16) + "\r\n" + inner + "\r\n0\r\n\r\n"
        _ = try await Self.through(world, "origin.test") { client, _ in
            try await client.send("GET /zen HTTP/1.1\r\nHost: \(host)\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
            let answer = try await client.readHead()
            #expect(answer.hasPrefix("HTTP/1.1 200"), "\(answer)")
            let echoed = String(buffer: try await client.read(count: LoopbackTests.contentLength(answer)))
            #expect(echoed.contains("POST /smuggled"), "the origin read it inside the body: \(echoed)")
        }
        #expect(world.seen.withLockedValue { $0 } == ["origin GET /zen"])
    }

    @Test func hostsWithoutARuleStayOpaqueTunnels() async throws {
        let world = try await Self.world(otherRule: false)
        defer { Task { await world.close() } }
        // other.test has no rule: the client must see other.test's own certificate, as without interception.
        let (_, records) = try await Self.through(
            world, "other.test", trust: try World.directTLS(world.otherCertificate)
        ) {
            client, _ in
            let (head, body) = try await Self.exchange(
                &client,
                "GET / HTTP/1.1\r\nHost: other.test\r\nx-api-key: \(world.placeholder)\r\nConnection: close\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(body.contains("x-api-key: \(world.placeholder)"))
            // The origin ends its TLS session, so the tunnel ends and is logged.
            #expect(try await client.isClosed())
        }
        #expect(records.allSatisfy { $0.protocol == "connect" })
    }

    @Test func socksConnectionsAreInterceptedLikeConnect() async throws {
        let world = try await Self.world()
        defer { Task { await world.close() } }
        try await GatewayFixture.with(
            allow: world.allow, hosts: world.hosts, configure: { $0.interception = world.interception }
        ) {
            gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.socksConnect(domain: "origin.test", port: world.origin.port) == 0)
                try await client.startTLS(try world.sandboxTLS(), serverHostname: "origin.test")
                let (head, body) = try await Self.exchange(
                    &client, "GET /s HTTP/1.1\r\nHost: origin.test\r\nx-api-key: \(world.placeholder)\r\n\r\n")
                #expect(head.hasPrefix("HTTP/1.1 200"))
                #expect(body.contains("x-api-key: \(Self.secret)"))
            }
        }
    }
}

/// Answers each request with its target, header fields and body, so a test sees exactly what arrived.
final class HeaderEchoHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private let name: String
    private let seen: NIOLockedValueBox<[String]>
    private var head: HTTPRequestHead?
    private var body = ""

    init(name: String, seen: NIOLockedValueBox<[String]>) {
        self.name = name
        self.seen = seen
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = ""
        case .body(let buffer):
            body += String(buffer: buffer)
        case .end:
            guard let head else { return }
            seen.withLockedValue { $0.append("\(name) \(head.method) \(head.uri)") }
            var text = "uri=\(head.uri)\n"
            for (field, value) in head.headers { text += "\(field.lowercased()): \(value)\n" }
            text += "body=\(body)\n"
            var response = HTTPResponseHead(version: .http1_1, status: .ok)
            response.headers.add(name: "content-length", value: String(text.utf8.count))
            context.write(wrapOutboundOut(.head(response)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            let channel = context.channel
            let close = head.headers["connection"].contains("close")
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if close { channel.close(promise: nil) }
            }
            self.head = nil
        }
    }
}

/// The first handler of an origin's pipeline: `cut()` closes the socket beneath TLS, so no close_notify leaves.
final class WireCutter: ChannelOutboundHandler {
    typealias OutboundIn = NIOAny
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func cut() { context?.close(promise: nil) }
}

/// Reads one request head as bytes and answers it with a fixed body, then drops the connection without close_notify.
final class RaggedAnswerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Framing: Sendable, CustomTestStringConvertible {
        /// No length: the body ends where the connection does (an event stream, say).
        case byClose
        case byLength

        var testDescription: String { self == .byClose ? "read until close" : "content-length" }
    }

    static let body = "event: done\ndata: {}\n\n"
    private let framing: Framing
    private let cutter: WireCutter
    private var request = ""

    init(framing: Framing, cutter: WireCutter) {
        self.framing = framing
        self.cutter = cutter
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        request += String(buffer: unwrapInboundIn(data))
        guard request.contains("\r\n\r\n") else { return }
        request = ""
        let length = framing == .byLength ? "Content-Length: \(Self.body.utf8.count)\r\n" : "Connection: close\r\n"
        let answer = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\(length)\r\n\(Self.body)"
        let cutter = self.cutter
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: answer))).assumeIsolated().whenComplete { _ in
            cutter.cut()
        }
    }
}
