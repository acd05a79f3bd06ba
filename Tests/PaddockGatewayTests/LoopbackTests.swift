import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PaddockCore
import Testing

@testable import PaddockGateway

extension Tag {
    /// Moves a lot of data or opens thousands of sockets; each takes seconds.
    @Tag static var heavy: Self
}

/// The gateway end to end on 127.0.0.1 with the test's own origins. Test names (`origin.test`) reach them only
/// through `[network.hosts]` plus a CIDR rule for 127.0.0.1/32; nothing is ever resolved by DNS.
@Suite("Gateway over loopback")
struct LoopbackTests {
    static func originPolicy(_ port: Int) -> (allow: [String], hosts: [String: String]) {
        (["origin.test:\(port)", "127.0.0.1/32"], ["origin.test": "127.0.0.1"])
    }

    static func contentLength(_ head: String) -> Int {
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            return Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }

    @Test func plainHTTPRequestsOnOneConnectionAreEachChecked() async throws {
        let origin = try await Origin.http()
        defer { Task { await origin.close() } }
        let (allow, hosts) = Self.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send(
                    "GET http://origin.test:\(origin.port)/first?x=1 HTTP/1.1\r\nHost: origin.test\r\n"
                        + "Proxy-Authorization: Basic c2VjcmV0\r\n\r\n")
                let head = try await client.readHead()
                #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
                let body = String(buffer: try await client.read(count: Self.contentLength(head)))
                #expect(body == "method=GET uri=/first?x=1 host=origin.test:\(origin.port) body=0 proxy-headers=[]")

                try await client.send(
                    "POST http://origin.test:\(origin.port)/chunked HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
                let second = try await client.read(until: "0\r\n\r\n")
                #expect(second.contains("transfer-encoding: chunked"))
                #expect(second.contains("method=POST uri=/chunked host=origin.test:\(origin.port) body=5"))

                try await client.send("GET http://denied.test/ HTTP/1.1\r\n\r\n")
                let denied = try await client.readHead()
                #expect(denied.hasPrefix("HTTP/1.1 403 Forbidden"))
                #expect(try await client.isClosed())
            }
            let records = try await gateway.records(atLeast: 3)
            #expect(records.map(\.decision) == [.allow, .allow, .deny])
            #expect(records.allSatisfy { $0.protocol == "http" })
            #expect(records[0].resolved == "127.0.0.1")
            #expect(records[1].bytesUp == 5)
            #expect(records[2].host == "denied.test")
            #expect(gateway.resolver.queries.isEmpty)
        }
    }

    @Test func eachKeptAliveRequestUsesTheCurrentPolicy() async throws {
        let origin = try await Origin.http()
        defer { Task { await origin.close() } }
        let (allow, hosts) = Self.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                let request = "GET http://origin.test:\(origin.port)/ HTTP/1.1\r\n\r\n"
                try await client.send(request)
                let head = try await client.readHead()
                #expect(head.hasPrefix("HTTP/1.1 200"))
                _ = try await client.read(count: Self.contentLength(head))
                gateway.policies.update(
                    try GatewayFixture.policy(allow: allow, deny: ["origin.test"], hosts: hosts))
                try await client.send(request)
                let second = try await client.readHead()
                #expect(second.hasPrefix("HTTP/1.1 403"))
                #expect(second.contains("X-Paddock-Rule: origin.test (deny list)"))
            }
        }
    }

    /// Three requests in one write, two with bodies: each reaches the origin whole, in turn, on a kept-alive
    /// connection, and each gets its own answer (the queue used to stop at the next head and strand its body).
    @Test func pipelinedRequestsWithBodiesEachReachTheOrigin() async throws {
        let origin = try await Origin.http()
        defer { Task { await origin.close() } }
        let (allow, hosts) = Self.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                let base = "http://origin.test:\(origin.port)"
                try await client.send(
                    "POST \(base)/one HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 5\r\n\r\nhello"
                        + "POST \(base)/two HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 3\r\n\r\nabc"
                        + "GET \(base)/three HTTP/1.1\r\nHost: origin.test\r\n\r\n")
                for (path, body) in [("/one", 5), ("/two", 3), ("/three", 0)] {
                    let head = try await client.readHead()
                    #expect(head.hasPrefix("HTTP/1.1 200"), "\(path): \(head)")
                    #expect(!head.lowercased().contains("connection: close"), "\(path): \(head)")
                    let text = String(buffer: try await client.read(count: Self.contentLength(head)))
                    #expect(text.contains("uri=\(path) ") && text.contains("body=\(body) "), "\(text)")
                }
            }
        }
    }

    @Test func connectCarriesTLSToTheOriginByName() async throws {
        let certificate = try TestCertificate.make()
        let origin = try await Origin.http(tls: try certificate.serverContext())
        defer { Task { await origin.close() } }
        let (allow, hosts) = Self.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                let head = try await client.connect("origin.test:\(origin.port)")
                #expect(head == "HTTP/1.1 200 Connection established\r\n\r\n")
                try await client.startTLS(try certificate.clientContext(), serverHostname: "origin.test")
                // `/close` makes the origin end the TLS session, so the tunnel ends and is logged.
                try await client.send("GET /close HTTP/1.1\r\nHost: origin.test\r\n\r\n")
                let response = try await client.readToEnd()
                #expect(response.hasPrefix("HTTP/1.1 200 OK"))
                #expect(response.contains("method=GET uri=/close host=origin.test"))
            }
            let record = try #require(try await gateway.records(atLeast: 1).first)
            #expect(record.protocol == "connect")
            #expect(record.decision == .allow)
            #expect(record.host == "origin.test")
            #expect(record.resolved == "127.0.0.1")
            #expect(record.rule == "origin.test:\(origin.port) (allow list)")
            #expect(record.bytesUp > 100 && record.bytesDown > 100)
        }
    }

    @Test func socksConnectByDomainReachesTheOrigin() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        let (allow, hosts) = Self.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.socksConnect(domain: "origin.test", port: origin.port) == 0)
                try await client.send("ping")
                #expect(String(buffer: try await client.read(count: 4)) == "ping")
            }
            #expect(try await gateway.records(atLeast: 1).first?.protocol == "socks5")
        }
    }

    @Test func deniedNamesAreRefusedBeforeAnyResolution() async throws {
        let resolver = RecordingResolver(["evil.test": [IPAddress("192.0.2.1")!]])
        try await GatewayFixture.with(allow: ["good.test"], resolver: resolver) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                let head = try await client.connect("evil.test:443")
                #expect(head.hasPrefix("HTTP/1.1 403 Forbidden"))
                #expect(head.contains("X-Paddock-Denied: evil.test:443"))
                #expect(head.contains("X-Paddock-Allow-Command: paddock allow evil.test"))
                let body = try await client.readToEnd()
                #expect(body.contains("    paddock allow evil.test\n"))
            }
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.socksConnect(domain: "evil.test", port: 443) == 2)
                #expect(try await client.isClosed())
            }
            let records = try await gateway.records(atLeast: 2)
            #expect(records.allSatisfy { $0.decision == .deny && $0.rule == "default" && $0.resolved == nil })
            #expect(resolver.queries.isEmpty)
            #expect(gateway.gateway.summary.denied == 2)
            #expect(gateway.gateway.summary.topDenied().first == .init(host: "evil.test", count: 2))
        }
    }

    @Test func rawIPsAreRefusedUntilACIDRRuleAllowsThem() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        let port = origin.port
        try await GatewayFixture.with(allow: ["origin.test:*"]) { gateway in
            for authority in [
                "127.0.0.1:\(port)", "2130706433:\(port)", "0x7f.1:\(port)", "[::ffff:127.0.0.1]:\(port)",
            ] {
                try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                    let head = try await client.connect(authority)
                    #expect(head.hasPrefix("HTTP/1.1 403"), "\(authority)")
                }
            }
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send([5, 1, 0])
                _ = try await client.read(count: 2)
                try await client.send([5, 1, 0, 1, 127, 0, 0, 1, UInt8(port >> 8), UInt8(port & 0xFF)])
                #expect(try await client.read(count: 2).getInteger(at: 1, as: UInt8.self) == 2)
            }
            let records = try await gateway.records(atLeast: 5)
            #expect(records.allSatisfy { $0.decision == .deny })
            #expect(records[1].host == "127.0.0.1")
            #expect(records[3].host == "::ffff:7f00:1")
            #expect(records[0].reason?.contains("CIDR") == true)

            // A CIDR rule for exactly this address and port opens it, live, without a restart.
            gateway.policies.update(try GatewayFixture.policy(allow: ["127.0.0.1/32:\(port)"]))
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.connect("127.0.0.1:\(port)").hasPrefix("HTTP/1.1 200"))
                try await client.send("raw")
                #expect(String(buffer: try await client.read(count: 3)) == "raw")
            }
        }
    }

    @Test func privateAddressesBehindAllowedNamesAreRefused() async throws {
        let resolver = RecordingResolver([
            "rebind.test": [IPAddress("10.0.0.5")!, IPAddress("169.254.169.254")!],
            "metadata.test": [IPAddress("::ffff:169.254.169.254")!],
        ])
        try await GatewayFixture.with(
            allow: ["private.test:*", "rebind.test", "metadata.test"], hosts: ["private.test": "127.0.0.1"],
            resolver: resolver
        ) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                let head = try await client.connect("private.test:8080")
                #expect(head.hasPrefix("HTTP/1.1 403"))
                #expect(head.contains("X-Paddock-Rule: restricted-address"))
                #expect(head.contains("X-Paddock-Allow-Command: paddock allow 127.0.0.1/32"))
            }
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.connect("rebind.test:443").hasPrefix("HTTP/1.1 403"))
            }
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.socksConnect(domain: "metadata.test", port: 80) == 2)
            }
            let records = try await gateway.records(atLeast: 3)
            #expect(records.map(\.resolved) == ["127.0.0.1", "10.0.0.5", "::ffff:a9fe:a9fe"])
            #expect(records.allSatisfy { $0.decision == .deny && $0.rule == "restricted-address" })
            #expect(resolver.queries == ["rebind.test", "metadata.test"])
        }
    }

    @Test func badPortsAreRefusedAndLogged() async throws {
        try await GatewayFixture.with(allow: ["origin.test"], hosts: ["origin.test": "127.0.0.1"]) { gateway in
            for authority in ["origin.test:0", "origin.test:65536", "origin.test", "origin.test:-1"] {
                try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                    #expect(try await client.connect(authority).hasPrefix("HTTP/1.1 400"), "\(authority)")
                    #expect(try await client.isClosed())
                }
            }
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                let head = try await client.connect("origin.test:22")
                #expect(head.hasPrefix("HTTP/1.1 403"))
                #expect(head.contains("paddock allow origin.test:22"))
            }
            let records = try await gateway.records(atLeast: 5)
            #expect(records.prefix(4).allSatisfy { $0.decision == .invalid })
            #expect(records[4].decision == .deny)
            #expect(gateway.gateway.summary.invalid == 4)
        }
    }

    @Test func refusedUpstreamAnswers502AndIsLogged() async throws {
        // A port held bound but not listening: connects are refused, and no test running alongside can take it
        // (a listener closed again left a free port that another test's origin sometimes got).
        let reserved = try ReservedPort()
        defer { reserved.release() }
        let port = reserved.port
        let (allow, hosts) = Self.originPolicy(port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.connect("origin.test:\(port)").hasPrefix("HTTP/1.1 502"))
            }
            let record = try #require(try await gateway.records(atLeast: 1).first)
            #expect(record.decision == .allow)
            #expect(record.error?.hasPrefix("connect failed") == true)
        }
    }

    @Test func halfCloseIsHonouredBothWays() async throws {
        let origin = try await Origin.countThenAnswer()
        defer { Task { await origin.close() } }
        let (allow, hosts) = Self.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.connect("origin.test:\(origin.port)").hasPrefix("HTTP/1.1 200"))
                try await client.send("hello")
                client.finishSending()
                // The origin only answers after it saw our end of input; the answer still comes back.
                #expect(try await client.readToEnd() == "got 5 bytes")
            }
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.socksConnect(domain: "origin.test", port: origin.port) == 0)
                try await client.send("sixsix")
                client.finishSending()
                #expect(try await client.readToEnd() == "got 6 bytes")
            }
            let records = try await gateway.records(atLeast: 2)
            #expect(records.map(\.bytesUp) == [5, 6])
            #expect(records.map(\.bytesDown) == [11, 11])
        }
    }

    @Test func unixSocketListener() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        let (allow, hosts) = Self.originPolicy(origin.port)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pgw-\(UUID().uuidString.prefix(8)).sock"
        ).path
        try await GatewayFixture.with(
            allow: allow, hosts: hosts,
            configure: {
                $0.tcpHost = nil
                $0.unixSocketPath = path
                $0.unixSocketMode = 0o660
            }
        ) { gateway in
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o660)
            try await Connect.unix(path: path) { (client: inout Conversation) async throws in
                #expect(try await client.connect("origin.test:\(origin.port)").hasPrefix("HTTP/1.1 200"))
                try await client.send("over unix")
                #expect(String(buffer: try await client.read(count: 9)) == "over unix")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func slowDripHandshakeIsCutOff() async throws {
        try await GatewayFixture.with(configure: { $0.handshakeTimeout = .milliseconds(300) }) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send("CONN")
                try await Task.sleep(for: .milliseconds(100))
                // On a loaded machine the sleep can outlast the timeout: then the gateway has already cut the
                // connection, which is the outcome under test, and this write fails.
                try? await client.send("E")
                #expect(try await client.isClosed(within: .seconds(3)))
            }
        }
    }

    /// A tunnel to `origin` through a gateway with a 5 s idle timeout. Not less: on a loaded machine the client
    /// may read the 200 later than a shorter timeout (1.5 s failed with two builds beside the suite, 3 s with the
    /// whole suite and two builds), and a close with unread data is a reset that discards the very answer the test
    /// reads.
    private func withTunnel(to origin: Origin, _ body: (inout Conversation) async throws -> Void) async throws {
        defer { Task { await origin.close() } }
        let (allow, hosts) = Self.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts, configure: { $0.idleTimeout = .milliseconds(5000) }) {
            gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.connect("origin.test:\(origin.port)").hasPrefix("HTTP/1.1 200"))
                try await body(&client)
            }
        }
    }

    @Test func idleTunnelIsClosed() async throws {
        try await withTunnel(to: try await Origin.echo()) { (client: inout Conversation) async throws in
            #expect(try await client.isClosed(within: .seconds(12)))
        }
    }

    /// The traffic comes from the origin's event loop: pings sent from the test's own tasks stalled for seconds when
    /// the whole suite ran on two cores, and the gateway rightly closed a tunnel that had gone quiet. The exact
    /// timing rules are tested on an embedded clock in TimeoutHandlerTests; this is the same rule end to end.
    @Test func aBusyTunnelOutlivesTheIdleTimeout() async throws {
        // Twice the idle timeout in all, a byte every 100 ms. A tunnel closed as idle would cut the stream short.
        let ticks = 100
        try await withTunnel(to: try await Origin.ticker(count: ticks, every: .milliseconds(100))) {
            (client: inout Conversation) async throws in
            #expect(String(buffer: try await client.read(count: ticks)) == TickerHandler.expected(count: ticks))
            // Then the ticker falls silent and the tunnel goes, after its whole stream got through.
            #expect(try await client.isClosed(within: .seconds(15)))
        }
    }

    @Test func connectionsBeyondTheCapAreRefused() async throws {
        try await GatewayFixture.with(configure: { $0.maxConnections = 2 }) { gateway in
            let first = try await Connect.bootstrap().connect(host: "127.0.0.1", port: gateway.port) {
                Connect.wrap($0)
            }
            let second = try await Connect.bootstrap().connect(host: "127.0.0.1", port: gateway.port) {
                Connect.wrap($0)
            }
            // Wait until both are admitted before knocking a third time.
            for _ in 0..<1000 where gateway.gateway.activeConnections < 2 {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(gateway.gateway.activeConnections == 2)
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.isClosed(within: .seconds(3)))
            }
            try await first.channel.close()
            try await second.channel.close()
        }
    }

    @Test func shutdownReallyStops() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        let (allow, hosts) = Self.originPolicy(origin.port)
        let policies = PolicyStore(try GatewayFixture.policy(allow: allow, hosts: hosts))
        let gateway = Gateway(
            configuration: GatewayConfiguration(tcpHost: "127.0.0.1"), policies: policies, log: MemoryConnectionLog(),
            resolver: RecordingResolver())
        let port = try #require(try await gateway.start().tcpAddress?.port)
        let tunnel = try await Connect.bootstrap().connect(host: "127.0.0.1", port: port) { Connect.wrap($0) }
        let idle = try await Connect.bootstrap().connect(host: "127.0.0.1", port: port) { Connect.wrap($0) }
        try await Connect.converse(tunnel) { (client: inout Conversation) async throws in
            #expect(try await client.connect("origin.test:\(origin.port)").hasPrefix("HTTP/1.1 200"))
            let clock = ContinuousClock()
            let started = clock.now
            await gateway.shutdown()
            #expect(clock.now - started < .seconds(5))
            #expect(gateway.activeConnections == 0)
            #expect(try await client.isClosed(within: .seconds(2)))
        }
        try await Connect.converse(idle) { (client: inout Conversation) async throws in
            #expect(try await client.isClosed(within: .seconds(2)))
        }
        await #expect(throws: (any Error).self) {
            _ = try await Connect.bootstrap().connect(host: "127.0.0.1", port: port).get()
        }
    }

    @Test func closingTheFileLogDoesNotWaitOutTheBatchInterval() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("net-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // A writer that would sleep 10 s after each batch: close must write what is queued and return at once.
        let log = try FileConnectionLog(path: path, batchMilliseconds: 10_000)
        let record = ConnectionRecord(
            time: "2026-11-21T00:00:00.000Z", protocol: "connect", host: "a.test", port: 443, decision: .allow,
            rule: "default")
        log.record(record)
        try await Task.sleep(for: .milliseconds(200))  // the writer has written the first line and sleeps
        log.record(record)
        let started = ContinuousClock.now
        await log.close()
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count == 2)
    }

    @Test func fileLogHoldsOneJSONObjectPerLine() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("net-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try FileConnectionLog(path: path)
        for index in 0..<100 {
            log.record(
                ConnectionRecord(
                    time: "2026-11-21T00:00:00.000Z", protocol: "connect", host: "h\(index).test", port: 443,
                    decision: index % 2 == 0 ? .allow : .deny, rule: "default"))
        }
        await log.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 100)
        let decoded = try lines.map { try JSONDecoder().decode(ConnectionRecord.self, from: Data($0.utf8)) }
        #expect(decoded.map(\.host) == (0..<100).map { "h\($0).test" })
    }
}

/// Volume and concurrency: each moves real data through real sockets.
@Suite("Gateway under load", .serialized, .tags(.heavy))
struct LoadTests {
    @Test func hundredMiBThroughATunnelArriveByteIdentical() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        let (allow, hosts) = LoopbackTests.originPolicy(origin.port)
        let chunkSize = 1 << 20
        let chunks = 100
        var generator = SystemRandomNumberGenerator()
        let block = (0..<chunkSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
        @Sendable func chunk(_ index: Int) -> ByteBuffer {
            var buffer = ByteBuffer(bytes: block)
            buffer.setInteger(UInt64(index), at: 0)
            return buffer
        }
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                #expect(try await client.connect("origin.test:\(origin.port)").hasPrefix("HTTP/1.1 200"))
                let writer = client.outbound
                let sender = Task {
                    for index in 0..<chunks { try await writer.write(chunk(index)) }
                    writer.finish()
                }
                for index in 0..<chunks {
                    let received = try await client.read(count: chunkSize)
                    #expect(received == chunk(index), "chunk \(index) differs")
                }
                try await sender.value
                #expect(try await client.readToEnd() == "")
            }
            let record = try #require(try await gateway.records(atLeast: 1).first)
            #expect(record.bytesUp == UInt64(chunks * chunkSize))
            #expect(record.bytesDown == UInt64(chunks * chunkSize))
        }
    }

    @Test func twoThousandConcurrentTunnels() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        let (allow, hosts) = LoopbackTests.originPolicy(origin.port)
        let count = 2000
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            let established = Counter()
            let peak = Counter()
            let succeeded = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<count {
                    group.addTask {
                        try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                            guard try await client.connect("origin.test:\(origin.port)").hasPrefix("HTTP/1.1 200")
                            else {
                                return false
                            }
                            let message = "tunnel \(index)"
                            try await client.send(message)
                            let echoed = String(buffer: try await client.read(count: message.utf8.count))
                            // Hold every tunnel open until all of them are up at once.
                            established.increment()
                            while established.value < count { try await Task.sleep(for: .milliseconds(20)) }
                            peak.raise(to: gateway.gateway.activeConnections)
                            return echoed == message
                        }
                    }
                }
                var ok = 0
                for try await result in group where result { ok += 1 }
                return ok
            }
            #expect(succeeded == count)
            #expect(peak.value >= count)
            #expect(try await gateway.records(atLeast: count).filter { $0.decision == .allow }.count == count)
        }
    }

    @Test func aSlowClientDoesNotStarveOthers() async throws {
        let source = try await Origin.source(total: 512 << 20)
        let echo = try await Origin.echo()
        defer {
            Task {
                await source.close()
                await echo.close()
            }
        }
        try await GatewayFixture.with(
            allow: ["source.test:\(source.port)", "echo.test:\(echo.port)", "127.0.0.1/32"],
            hosts: ["source.test": "127.0.0.1", "echo.test": "127.0.0.1"]
        ) { gateway in
            try await Connect.tcp(port: gateway.port) { (slow: inout Conversation) async throws in
                #expect(try await slow.connect("source.test:\(source.port)").hasPrefix("HTTP/1.1 200"))
                _ = try await slow.read(count: 1)  // then stop reading: 512 MiB wait behind backpressure
                let clock = ContinuousClock()
                let started = clock.now
                try await Connect.tcp(port: gateway.port) { (fast: inout Conversation) async throws in
                    #expect(try await fast.connect("echo.test:\(echo.port)").hasPrefix("HTTP/1.1 200"))
                    for round in 0..<200 {
                        try await fast.send("round \(round);")
                        _ = try await fast.read(until: ";")
                    }
                }
                // Starved, the fast client would never finish; 0.1 s alone, up to 18 s seen with the whole suite
                // and two builds on two cores: the bound tells the two apart with room to spare.
                #expect(clock.now - started < .seconds(60))
            }
        }
    }
}

final class Counter: Sendable {
    private let box = NIOLockedValueBox(0)
    var value: Int { box.withLockedValue { $0 } }
    func increment() { box.withLockedValue { $0 += 1 } }
    func raise(to candidate: Int) { box.withLockedValue { value in value = max(value, candidate) } }
}
