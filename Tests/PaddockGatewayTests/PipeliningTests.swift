import NIOCore
import NIOEmbedded
import NIOHTTP1
import PaddockCore
import Testing

@testable import PaddockGateway

/// Plain-HTTP requests sent back to back on one connection, before the first is answered: each reaches its
/// origin whole. Found by the gateway fuzz target (Tests/Fuzz).
@Suite("Gateway pipelining")
struct PipeliningTests {
    /// The client, with the origin the decision hands out: HTTP client codec and the gateway's upstream handler.
    struct Link {
        let client: EmbeddedChannel
        let origin: EmbeddedChannel

        init() throws {
            client = EmbeddedChannel(handler: ProtocolDetector())
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            origin = EmbeddedChannel(loop: client.embeddedEventLoop)
            try origin.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            try origin.pipeline.syncOperations.addHTTPClientHandlers()
            try origin.pipeline.syncOperations.addHandler(UpstreamHTTPHandler())
        }

        /// Hands the next forwarded request to the origin (finished exchanges are only logged).
        func forwardNext() throws {
            while let event = try client.readInbound(as: ProxyEvent.self) {
                if case .exchangeFinished = event { continue }
                guard case .forward = event else { break }
                try client.writeOutbound(ProxyCommand.forward(upstream: origin))
                client.embeddedEventLoop.run()
                return
            }
            Issue.record("no forward event")
        }

        /// What the origin has been sent so far.
        func originReceived() throws -> String {
            var text = ""
            while let part = try origin.readOutbound(as: IOData.self) {
                if case .byteBuffer(let buffer) = part { text += String(buffer: buffer) }
            }
            return text
        }

        func clientReceived() throws -> String {
            var text = ""
            while let part = try client.readOutbound(as: IOData.self) {
                if case .byteBuffer(let buffer) = part { text += String(buffer: buffer) }
            }
            return text
        }
    }

    @Test func theBodyOfAPipelinedRequestReachesTheOrigin() throws {
        let link = try Link()
        try link.client.writeInbound(
            ByteBuffer(
                string: "GET http://origin.test:8081/a HTTP/1.1\r\n\r\n"
                    + "POST http://origin.test:8081/b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"))
        try link.forwardNext()
        #expect(try link.originReceived().hasPrefix("GET /a HTTP/1.1\r\n"))
        try link.origin.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA"))
        #expect(try link.clientReceived().hasSuffix("\r\n\r\nA"))

        try link.forwardNext()
        let second = try link.originReceived()
        #expect(second.hasPrefix("POST /b HTTP/1.1\r\n"))
        #expect(second.hasSuffix("\r\n\r\nhello"), "the origin got \(second.debugDescription)")
        try link.origin.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB"))
        #expect(try link.clientReceived().hasSuffix("\r\n\r\nB"))
        #expect(link.client.isActive, "both requests were complete: the connection stays open for a third")
        _ = try? link.client.finish(acceptAlreadyClosed: true)
        _ = try? link.origin.finish(acceptAlreadyClosed: true)
    }
}
