import NIOCore
import NIOEmbedded
import NIOHTTP1
import PaddockCore
import Testing

@testable import PaddockGateway

/// The protocol handlers alone, on EmbeddedChannel: what a client sends becomes a `ProxyEvent`, what the async
/// code answers becomes bytes. No sockets, no policy.
@Suite("Gateway handshakes")
struct HandshakeTests {
    /// Connected, as an accepted socket is: the handlers ignore reads on an inactive channel.
    func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: ProtocolDetector())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    func output(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            if case .byteBuffer(let buffer) = part { text += String(buffer: buffer) }
        }
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    func bytes(_ channel: EmbeddedChannel) throws -> [UInt8] {
        var result: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            result += Array(buffer.readableBytesView)
        }
        return result
    }

    func event(_ channel: EmbeddedChannel) throws -> ProxyEvent? {
        try channel.readInbound(as: ProxyEvent.self)
    }

    // MARK: HTTP

    @Test func connectBecomesATunnelRequest() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "CONNECT Example.COM.:443 HTTP/1.1\r\nHost: x\r\n\r\n"))
        guard case .tunnel(.connect, let target) = try event(channel) else {
            Issue.record("no tunnel event")
            return
        }
        #expect(target == NetworkTarget(host: .name("example.com"), port: 443))
    }

    @Test func deniedConnectGets403WithTheAllowCommandAndCloses() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "CONNECT evil.test:443 HTTP/1.1\r\n\r\n"))
        guard case .tunnel(_, let target) = try event(channel) else {
            Issue.record("no tunnel event")
            return
        }
        let decision = try NetworkPolicy(config: NetworkConfig()).decide(target)
        try channel.writeOutbound(ProxyCommand.refuse(.denied(target, decision)))
        let text = try output(channel)
        #expect(text.hasPrefix("HTTP/1.1 403 Forbidden\r\n"))
        #expect(text.contains("X-Paddock-Denied: evil.test:443\r\n"))
        #expect(text.contains("X-Paddock-Rule: default\r\n"))
        #expect(text.contains("\n    paddock allow evil.test\n"))
        #expect(text.contains("Connection: close"))
        #expect(!channel.isActive)
    }

    @Test(
        "malformed CONNECT targets get 400 and a closed connection",
        arguments: [
            "CONNECT example.com HTTP/1.1\r\n\r\n",  // no port
            "CONNECT example.com:0 HTTP/1.1\r\n\r\n",
            "CONNECT example.com:99999 HTTP/1.1\r\n\r\n",
            "CONNECT user@example.com:443 HTTP/1.1\r\n\r\n",
            "CONNECT ::1:443 HTTP/1.1\r\n\r\n",
            "CONNECT [::1 HTTP/1.1\r\n\r\n",
            "CONNECT exa%00mple.com:443 HTTP/1.1\r\n\r\n",
        ])
    func malformedConnect(_ request: String) throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: request))
        guard case .invalid(.http, _, let reason) = try event(channel) else {
            Issue.record("no invalid event")
            return
        }
        #expect(!reason.isEmpty)
        let text = try output(channel)
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!channel.isActive)
    }

    @Test(
        "malformed HTTP gets 400, never a crash",
        arguments: [
            "GET / HTTP/1.1\r\n\r\n",  // origin-form: not a proxy request
            "GET https://example.com/ HTTP/1.1\r\n\r\n",
            "GET ftp://example.com/ HTTP/1.1\r\n\r\n",
            "GET http:///path HTTP/1.1\r\n\r\n",
            "GET http://exa mple.com/ HTTP/1.1\r\n\r\n",
            "GARBAGE\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\nBad Header\r\n\r\n",
            "GET http://example.com/ HTTP/9.9\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        ])
    func malformedHTTP(_ request: String) throws {
        let channel = try makeChannel()
        _ = try? channel.writeInbound(ByteBuffer(string: request))
        let text = try output(channel)
        #expect(
            text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(request.debugDescription) → \(text.debugDescription)")
        #expect(!channel.isActive)
    }

    @Test func unknownFirstByteIsClosedAndReported() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01]))  // a TLS ClientHello sent without CONNECT
        guard case .invalid(nil, _, "unknown protocol") = try event(channel) else {
            Issue.record("no invalid event")
            return
        }
        #expect(!channel.isActive)
    }

    @Test func absoluteURIIsRewrittenForTheOrigin() throws {
        let channel = try makeChannel()
        try channel.writeInbound(
            ByteBuffer(
                string: "GET http://Origin.Test:8080/path?q=1#frag HTTP/1.1\r\nHost: wrong.test\r\n"
                    + "Proxy-Authorization: Basic c2VjcmV0\r\nProxy-Connection: keep-alive\r\n"
                    + "Connection: X-Hop\r\nX-Hop: 1\r\nAccept: */*\r\n\r\n"))
        guard case .forward(let target, let head) = try event(channel) else {
            Issue.record("no forward event")
            return
        }
        #expect(target == NetworkTarget(host: .name("origin.test"), port: 8080))
        #expect(head.uri == "/path?q=1")
        #expect(head.headers["host"] == ["origin.test:8080"])
        #expect(head.headers["proxy-authorization"].isEmpty)
        #expect(head.headers["proxy-connection"].isEmpty)
        #expect(head.headers["x-hop"].isEmpty)
        #expect(head.headers["accept"] == ["*/*"])
    }

    @Test func earlyBytesAfterConnectReachTheUpstream() throws {
        let channel = try makeChannel()
        let upstream = EmbeddedChannel(loop: channel.embeddedEventLoop)
        try upstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // The request and the first TLS bytes in one packet, as an optimistic client sends them.
        try channel.writeInbound(ByteBuffer(string: "CONNECT origin.test:443 HTTP/1.1\r\n\r\nEARLY-CLIENT-HELLO"))
        guard case .tunnel = try event(channel) else {
            Issue.record("no tunnel event")
            return
        }
        let completion = TunnelCompletion(eventLoop: channel.eventLoop)
        try channel.writeOutbound(ProxyCommand.startTunnel(upstream: upstream, completion: completion))
        #expect(try output(channel) == "HTTP/1.1 200 Connection established\r\n\r\n")
        channel.embeddedEventLoop.run()
        #expect(try upstream.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "EARLY-CLIENT-HELLO")
        try channel.writeInbound(ByteBuffer(string: "more"))
        #expect(try upstream.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "more")
        try upstream.writeInbound(ByteBuffer(string: "from origin"))
        #expect(try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "from origin")
        // The HTTP codec is gone: later bytes that look like HTTP are just bytes.
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(try upstream.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "GET / HTTP/1.1\r\n\r\n")
        _ = try? channel.finish()
        _ = try? upstream.finish()
    }

    // MARK: SOCKS5

    @Test func socksDomainConnect() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        #expect(try bytes(channel) == [5, 0])
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0, 3, 11] + Array("EXAMPLE.com".utf8) + [0x01, 0xBB]))
        guard case .tunnel(.socks5, let target) = try event(channel) else {
            Issue.record("no tunnel event")
            return
        }
        #expect(target == NetworkTarget(host: .name("example.com"), port: 443))
        let decision = try NetworkPolicy(config: NetworkConfig()).decide(target)
        try channel.writeOutbound(ProxyCommand.refuse(.denied(target, decision)))
        let reply = try bytes(channel)
        #expect(reply.prefix(2) == [5, 2])  // connection not allowed by ruleset
        #expect(!channel.isActive)
    }

    @Test func socksGreetingAndRequestInOnePacket() throws {
        let channel = try makeChannel()
        try channel.writeInbound(
            ByteBuffer(bytes: [5, 1, 0] + [5, 1, 0, 1, 10, 0, 0, 1, 0x00, 0x50]))
        #expect(try bytes(channel) == [5, 0])
        guard case .tunnel(.socks5, let target) = try event(channel) else {
            Issue.record("the pipelined request was not seen")
            return
        }
        #expect(target == NetworkTarget(host: .ip(IPAddress("10.0.0.1")!), port: 80))
    }

    @Test func socksIPv6Connect() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        _ = try bytes(channel)
        try channel.writeInbound(
            ByteBuffer(
                bytes: [5, 1, 0, 4] + [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1, 0x01, 0xBB]))
        guard case .tunnel(.socks5, let target) = try event(channel) else {
            Issue.record("no tunnel event")
            return
        }
        #expect(target.description == "[2001:db8::1]:443")
    }

    @Test func socksWithoutNoAuthMethodIsRefused() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 2]))  // username/password only
        #expect(try bytes(channel) == [5, 0xFF])
        guard case .invalid(.socks5, _, _) = try event(channel) else {
            Issue.record("no invalid event")
            return
        }
        #expect(!channel.isActive)
    }

    @Test func socksBindIsNotSupported() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        _ = try bytes(channel)
        try channel.writeInbound(ByteBuffer(bytes: [5, 2, 0, 1, 10, 0, 0, 1, 0, 80]))
        #expect(try bytes(channel).prefix(2) == [5, 7])
        #expect(!channel.isActive)
    }

    @Test(
        "SOCKS targets that are not canonical names are refused",
        arguments: [
            "exa\u{0}mple.com", "user@example.com", "", "bad name", "example.123",
        ])
    func socksBadDomain(_ domain: String) throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        _ = try bytes(channel)
        try channel.writeInbound(
            ByteBuffer(bytes: [5, 1, 0, 3, UInt8(domain.utf8.count)] + Array(domain.utf8) + [0x01, 0xBB]))
        #expect(try bytes(channel).prefix(2) == [5, 2])
        guard case .invalid(.socks5, _, _) = try event(channel) else {
            Issue.record("no invalid event")
            return
        }
        #expect(!channel.isActive)
    }

    @Test func socksPortZeroIsRefused() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        _ = try bytes(channel)
        try channel.writeInbound(ByteBuffer(bytes: [5, 1, 0, 3, 4] + Array("a.io".utf8) + [0, 0]))
        #expect(try bytes(channel).prefix(2) == [5, 2])
        #expect(!channel.isActive)
    }

    @Test func socksWrongVersionIsClosed() throws {
        let channel = try makeChannel()
        _ = try? channel.writeInbound(ByteBuffer(bytes: [5, 1, 0]))
        _ = try bytes(channel)
        _ = try? channel.writeInbound(ByteBuffer(bytes: [4, 1, 0, 80, 10, 0, 0, 1, 0]))
        #expect(!channel.isActive)
    }

    @Test func policyStoreSwapsLive() throws {
        let store = PolicyStore(.offline)
        let target = NetworkTarget(host: .name("example.com"), port: 443)
        #expect(!store.current.decide(target).isAllowed)
        store.update(try NetworkPolicy(config: NetworkConfig(allow: ["example.com"])))
        #expect(store.current.decide(target).isAllowed)
    }
}
