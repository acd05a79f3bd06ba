import Foundation
import NIOCore
import PaddockCore
import Testing

@testable import PaddockGateway

/// The loopback listener of the relay transport: any local process can reach it, so only this session's secret
/// opens it, for HTTP (Proxy-Authorization: Basic) and SOCKS5 (RFC 1929) alike; every refusal is logged.
@Suite("The gateway's loopback listener wants the session's secret")
struct ProxyCredentialTests {
    static let credential = ProxyCredential(secret: "0123456789abcdef")
    static let other = ProxyCredential(secret: "fedcba9876543210")

    func withGateway(_ origin: Origin, _ body: (GatewayFixture) async throws -> Void) async throws {
        let (allow, hosts) = LoopbackTests.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts, configure: { $0.tcpCredential = Self.credential }) {
            try await body($0)
        }
    }

    @Test func connectWithTheSecretTunnelsAndWithoutOrWithAnotherIsRefused() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        try await withGateway(origin) { gateway in
            let target = "origin.test:\(origin.port)"
            let heads = [
                "",
                "Proxy-Authorization: Basic \(Self.other.basicToken)\r\n",
                "Proxy-Authorization: Bearer \(Self.credential.secret)\r\n",
                "Proxy-Authorization: Basic \(Self.credential.basicToken)\r\nProxy-Authorization: Basic \(Self.credential.basicToken)\r\n",
            ]
            for extra in heads {
                try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                    try await client.send("CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n\(extra)\r\n")
                    let head = try await client.readHead()
                    #expect(head.hasPrefix("HTTP/1.1 407 "), "\(extra): \(head)")
                    #expect(head.contains("Proxy-Authenticate: Basic"))
                    #expect(try await client.isClosed())
                }
            }
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send(
                    "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\nProxy-Authorization: Basic \(Self.credential.basicToken)\r\n\r\nping"
                )
                #expect(try await client.readHead().hasPrefix("HTTP/1.1 200 "))
                #expect(String(buffer: try await client.read(count: 4)) == "ping")
            }
            let records = try await gateway.records(atLeast: 5)
            let refused = records.filter { $0.decision == .invalid }
            #expect(refused.count == 4, "\(records)")
            #expect(refused.contains { $0.reason?.contains("no proxy credential") == true })
            #expect(refused.contains { $0.reason?.contains("not this session's") == true })
            #expect(records.contains { $0.decision == .allow && $0.host == "origin.test" })
            #expect(!records.contains { "\($0)".contains(Self.credential.secret) }, "the log never carries the secret")
        }
    }

    @Test func plainHTTPNeedsTheSecretAndItNeverReachesTheOrigin() async throws {
        let origin = try await Origin.http()
        defer { Task { await origin.close() } }
        try await withGateway(origin) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send("GET http://origin.test:\(origin.port)/x HTTP/1.1\r\nHost: origin.test\r\n\r\n")
                #expect(try await client.readHead().hasPrefix("HTTP/1.1 407 "))
            }
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send(
                    "GET http://origin.test:\(origin.port)/x HTTP/1.1\r\nHost: origin.test\r\n"
                        + "Proxy-Authorization: Basic \(Self.credential.basicToken)\r\n\r\n")
                let head = try await client.readHead()
                #expect(head.hasPrefix("HTTP/1.1 200 OK"))
                let body = String(buffer: try await client.read(count: LoopbackTests.contentLength(head)))
                #expect(body.hasSuffix("proxy-headers=[]"), "\(body)")
            }
        }
    }

    /// A head dripped in pieces is held until complete, then handed on whole.
    @Test func aHeadInPiecesIsCheckedWhole() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        try await withGateway(origin) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                let head =
                    "CONNECT origin.test:\(origin.port) HTTP/1.1\r\nProxy-Authorization: Basic \(Self.credential.basicToken)\r\n\r\n"
                for piece in head.utf8.chunked(into: 7) {
                    try await client.send(Array(piece))
                    try await Task.sleep(for: .milliseconds(2))
                }
                #expect(try await client.readHead().hasPrefix("HTTP/1.1 200 "))
            }
        }
    }

    @Test func socksWantsUsernamePasswordWithTheSecret() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        try await withGateway(origin) { gateway in
            // No authentication offered: no acceptable method.
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send([5, 1, 0])
                #expect(Array(try await client.read(count: 2).readableBytesView) == [5, 0xFF])
                #expect(try await client.isClosed())
            }
            for (credential, status) in [(Self.other, UInt8(1)), (Self.credential, UInt8(0))] {
                try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                    try await client.send([5, 2, 0, 2])
                    #expect(Array(try await client.read(count: 2).readableBytesView) == [5, 2])
                    let user = Array(credential.user.utf8)
                    let secret = Array(credential.secret.utf8)
                    try await client.send([1, UInt8(user.count)] + user + [UInt8(secret.count)] + secret)
                    #expect(Array(try await client.read(count: 2).readableBytesView) == [1, status])
                    if status == 0 {
                        let domain = Array("origin.test".utf8)
                        try await client.send(
                            [5, 1, 0, 3, UInt8(domain.count)] + domain + [
                                UInt8(origin.port >> 8), UInt8(origin.port & 0xFF),
                            ])
                        let reply = try await client.read(count: 10)
                        #expect(reply.getInteger(at: reply.readerIndex + 1, as: UInt8.self) == 0)
                        try await client.send("ping")
                        #expect(String(buffer: try await client.read(count: 4)) == "ping")
                    } else {
                        #expect(try await client.isClosed())
                    }
                }
            }
            let records = try await gateway.records(atLeast: 3)
            #expect(records.filter { $0.decision == .invalid }.count == 2, "\(records)")
        }
    }

    /// The bridge's probe: answered 204 and counted, never logged; on the loopback listener only with the secret.
    @Test func theProbeIsAnsweredOnlyBehindTheCredential() async throws {
        let origin = try await Origin.echo()
        defer { Task { await origin.close() } }
        try await withGateway(origin) { gateway in
            for (header, status) in [
                ("", "407"), ("Proxy-Authorization: Basic \(Self.credential.basicToken)\r\n", "204"),
            ] {
                try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                    try await client.send(GatewayAccess.probeRequestLine + header + "\r\n")
                    #expect(try await client.readHead().hasPrefix("HTTP/1.1 \(status) "))
                    #expect(try await client.isClosed())
                }
            }
            #expect(gateway.gateway.probesAnswered == 1)
            let records = try await gateway.records(atLeast: 1)
            #expect(
                records.count == 1 && records[0].decision == .invalid, "only the refused probe is logged: \(records)")
        }
        try await GatewayFixture.with { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send(GatewayAccess.probeRequestLine + "\r\n")
                #expect(try await client.readHead().hasPrefix("HTTP/1.1 204 "))
            }
            #expect(gateway.gateway.probesAnswered == 1)
            #expect(gateway.log.records.isEmpty)
        }
    }

    /// The checks as tables: incomplete waits, an oversized head never waits forever, case and spaces are HTTP's.
    @Test func verdicts() {
        #expect(
            HTTPCredentialVerdict.check(ByteBuffer(string: "CONNECT a:1 HTTP/1.1\r\n"), credential: Self.credential)
                == .needMore)
        #expect(
            HTTPCredentialVerdict.check(ByteBuffer(string: "CONNECT a:1 HTTP/1.1\r\n\r\n"), credential: Self.credential)
                == .missing)
        let right = "CONNECT a:1 HTTP/1.1\r\nproxy-authorization:  basic \(Self.credential.basicToken) \r\n\r\n"
        #expect(HTTPCredentialVerdict.check(ByteBuffer(string: right), credential: Self.credential) == .accepted)
        let long = "CONNECT a:1 HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000)
        #expect(HTTPCredentialVerdict.check(ByteBuffer(string: long), credential: Self.credential) != .needMore)
        #expect(
            SOCKSCredentialVerdict.check(
                ByteBuffer(bytes: [1, 7] + Array("paddock".utf8)), credential: Self.credential) == .needMore)
        #expect(
            SOCKSCredentialVerdict.check(ByteBuffer(bytes: [1, 0, 0, 9]), credential: Self.credential) != .accepted)
    }
}

extension Collection {
    fileprivate func chunked(into size: Int) -> [SubSequence] {
        stride(from: 0, to: count, by: size).map { offset in
            let start = index(startIndex, offsetBy: offset)
            return self[start..<(index(start, offsetBy: size, limitedBy: endIndex) ?? endIndex)]
        }
    }
}
