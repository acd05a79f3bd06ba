import NIOCore
import NIOEmbedded
import PaddockCore
import Testing

@testable import PaddockGateway

/// The short way for a plain CONNECT: what it takes, what it leaves to the full HTTP parser, and that a client
/// cannot tell the two apart.
@Suite("Gateway CONNECT fast path")
struct ConnectFastPathTests {
    func parse(_ text: String) -> HTTPConnectHead? {
        HTTPConnectHead.parse(ByteBuffer(string: text))
    }

    @Test func plainConnectIsTaken() {
        let request = "CONNECT Example.COM.:443 HTTP/1.1\r\nHost: Example.COM.:443\r\nUser-Agent: curl/8.5.0\r\n\r\n"
        #expect(parse(request) == HTTPConnectHead(authority: "Example.COM.:443", length: request.utf8.count))
        #expect(parse("CONNECT [::1]:22 HTTP/1.1\r\n\r\nTLS")?.authority == "[::1]:22")
        #expect(parse("CONNECT [::1]:22 HTTP/1.1\r\n\r\nTLS")?.length == "CONNECT [::1]:22 HTTP/1.1\r\n\r\n".utf8.count)
    }

    @Test(
        "anything unusual is left to the full parser",
        arguments: [
            "CONNECT example.com:443 HTTP/1.1\r\n",  // head not complete yet
            "CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n",
            "CONNECT example.com:443 HTTP/1.0\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\n\n",  // bare LF
            "CONNECT  example.com:443 HTTP/1.1\r\n\r\n",
            "CONNECT exa%00mple.com:443 HTTP/1.1\r\n\r\n",
            "CONNECT user@example.com:443 HTTP/1.1\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\nBad Header\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\nX: caf\u{e9}\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\nX: a\0b\r\n\r\n",
            "CONNECT example.com:443 HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
            "CONNECT example.com:443 HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            "connect example.com:443 HTTP/1.1\r\n\r\n",
            "CONNECTexample.com:443 HTTP/1.1\r\n\r\n",
            "GET http://example.com/ HTTP/1.1\r\n\r\n",
        ])
    func unusualRequestsFallBack(_ request: String) {
        #expect(parse(request) == nil)
    }

    @Test func headsLongerThanTheLimitFallBack() {
        let request = "CONNECT example.com:443 HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000) + "\r\n\r\n"
        #expect(parse(request) == nil)
    }

    @Test func refusalBytesMatchTheHTTPEncoder() throws {
        let target = NetworkTarget(host: .name("evil.test"), port: 443)
        let decision = try NetworkPolicy(config: NetworkConfig()).decide(target)
        let (head, body) = HTTPRefusal.response(for: .denied(target, decision))
        let bytes = String(buffer: HTTPConnectHandler.serialize(head, body, ByteBufferAllocator()))
        #expect(bytes.hasPrefix("HTTP/1.1 403 Forbidden\r\nX-Paddock-Denied: evil.test:443\r\n"))
        #expect(bytes.contains("\r\nContent-Length: \(body.readableBytes)\r\nConnection: close\r\n\r\n"))
        #expect(bytes.hasSuffix(String(buffer: body)))
    }

    /// Bytes that arrive in a second read while the decision is pending also reach the upstream, in order.
    @Test func bytesReadWhileDecidingReachTheUpstreamInOrder() throws {
        let channel = EmbeddedChannel(handler: ProtocolDetector())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let upstream = EmbeddedChannel(loop: channel.embeddedEventLoop)
        try upstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "CONNECT origin.test:443 HTTP/1.1\r\n\r\nONE-"))
        try channel.writeInbound(ByteBuffer(string: "TWO"))
        guard case .tunnel(.connect, let target) = try channel.readInbound(as: ProxyEvent.self) else {
            Issue.record("no tunnel event")
            return
        }
        #expect(target == NetworkTarget(host: .name("origin.test"), port: 443))
        try channel.writeOutbound(
            ProxyCommand.startTunnel(upstream: upstream, completion: TunnelCompletion(eventLoop: channel.eventLoop)))
        #expect(
            try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) }
                == "HTTP/1.1 200 Connection established\r\n\r\n")
        channel.embeddedEventLoop.run()
        #expect(try upstream.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } == "ONE-TWO")
        _ = try? channel.finish()
        _ = try? upstream.finish()
    }
}
