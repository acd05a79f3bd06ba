import Foundation
import NIOCore
import PaddockCore
import PaddockTestSupport
import Testing

@testable import PaddockGateway

/// Absolute-URI (`http://`) requests end to end on 127.0.0.1: every byte an origin sends reaches the client, in
/// every framing an origin uses and however slowly the client reads; oversized heads and upgrades get an answer.
@Suite("Gateway plain-HTTP path")
struct PlainHTTPTests {
    /// How the client asks: HTTP/1.1 kept alive (curl's default), `Connection: close`, or HTTP/1.0 (`curl -0`).
    enum ClientShape: String, Sendable, CaseIterable, CustomStringConvertible {
        case keepAlive
        case connectionClose
        case http10

        var description: String { rawValue }
    }

    static let size = 8 << 20

    static func request(_ port: Int, _ shape: ClientShape, path: String = "/") -> String {
        let url = "http://origin.test:\(port)\(path)"
        switch shape {
        case .keepAlive: return "GET \(url) HTTP/1.1\r\nHost: origin.test:\(port)\r\n\r\n"
        case .connectionClose: return "GET \(url) HTTP/1.1\r\nHost: origin.test:\(port)\r\nConnection: close\r\n\r\n"
        case .http10: return "GET \(url) HTTP/1.0\r\nHost: origin.test:\(port)\r\n\r\n"
        }
    }

    static func header(_ name: String, in head: String) -> String? {
        for line in head.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == name {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// One response: its head, then the body framed the way the head says (no length: until the gateway closes).
    static func readResponse(_ client: inout Conversation, pausing pause: Duration = .zero) async throws -> (
        head: String, body: ByteBuffer
    ) {
        let head = try await client.read(throughBytes: "\r\n\r\n")
        if let length = header("content-length", in: head).flatMap(Int.init) {
            // A response cut short by the origin ends early: take what arrived before the close.
            do {
                let body =
                    pause > .zero
                    ? try await client.read(count: length, pausing: pause) : try await client.read(count: length)
                return (head, body)
            } catch {
                return (head, try await client.readBytesToEnd())
            }
        }
        if header("transfer-encoding", in: head)?.lowercased() == "chunked" {
            return (head, try await client.readChunkedBody(pausing: pause))
        }
        return (head, try await client.readBytesToEnd(pausing: pause))
    }

    static func expectWhole(_ body: ByteBuffer, _ size: Int, _ comment: Comment? = nil) {
        #expect(body.readableBytes == size, comment)
        // A mismatch in 8 MiB would print both buffers: say only whether they differ.
        let expected = BulkPayload.bytes(size)
        let differs = body.withUnsafeReadableBytes { got in
            expected.withUnsafeReadableBytes { want in
                zip(got, want).contains { $0 != $1 }
            }
        }
        #expect(!differs, "the bytes differ from what the origin sent")
    }

    static var downloadShapes: [(BulkFraming, ClientShape)] {
        BulkFraming.allCases.flatMap { framing in
            ClientShape.allCases.compactMap { client in
                // An origin answering an HTTP/1.0 request in chunks would itself be broken.
                framing == .chunkedThenClose && client == .http10 ? nil : (framing, client)
            }
        }
    }

    @Test("a download arrives whole", arguments: downloadShapes)
    func downloadArrivesWhole(_ framing: BulkFraming, _ shape: ClientShape) async throws {
        let origin = try await Origin.bulk(framing, size: Self.size)
        defer { Task { await origin.close() } }
        let (allow, hosts) = LoopbackTests.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send(Self.request(origin.port, shape))
                let (head, body) = try await Self.readResponse(&client)
                #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
                Self.expectWhole(body, Self.size, "\(framing), \(shape)")
                // A body that ends with the origin's close, or a client that asked, ends the connection.
                if framing == .closeDelimited || shape != .keepAlive {
                    #expect(Self.header("connection", in: head) == "close")
                }
                if framing == .closeDelimited || framing == .cutShort || shape != .keepAlive {
                    #expect(try await client.isClosed())
                }
            }
            let record = try #require(try await gateway.records(atLeast: 1).first)
            #expect(record.decision == .allow)
            #expect(record.bytesDown == UInt64(Self.size))
        }
    }

    /// The client takes 16 KiB at a time with a pause after each read, so most of the body waits in the gateway
    /// behind backpressure when the origin is already done (and, for the close shapes, gone).
    @Test("a slow reader gets every byte", arguments: BulkFraming.allCases)
    func slowReaderGetsEveryByte(_ framing: BulkFraming) async throws {
        let origin = try await Origin.bulk(framing, size: Self.size)
        defer { Task { await origin.close() } }
        let (allow, hosts) = LoopbackTests.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcpSmallBuffer(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send(Self.request(origin.port, .keepAlive))
                let (head, body) = try await Self.readResponse(&client, pausing: .milliseconds(1))
                #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
                Self.expectWhole(body, Self.size, "\(framing)")
                guard framing != .closeDelimited && framing != .cutShort else {
                    #expect(try await client.isClosed())
                    return
                }
                // The kept-alive client connection carries a second download just as whole (over the same origin
                // connection when the origin keeps it, a new one otherwise).
                try await client.send(Self.request(origin.port, .keepAlive, path: "/size/3000000"))
                let (_, second) = try await Self.readResponse(&client, pausing: .milliseconds(1))
                Self.expectWhole(second, 3_000_000, "second download on the same connection")
            }
        }
    }

    /// The shape the report measured: Python's `http.server` serving a file (HTTP/1.0, `Content-Length`, close).
    @Test func pythonHTTPServerFileArrivesWhole() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("pgw-py-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let origin = try await OriginServer.start(root: root)
        defer { origin.stop() }
        try Data(BulkPayload.bytes(Self.size).readableBytesView).write(to: URL(fileURLWithPath: root + "/big.bin"))
        let (allow, hosts) = LoopbackTests.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            for shape in ClientShape.allCases {
                try await Connect.tcpSmallBuffer(port: gateway.port) { (client: inout Conversation) async throws in
                    try await client.send(Self.request(origin.port, shape, path: "/big.bin"))
                    let (head, body) = try await Self.readResponse(&client, pausing: .microseconds(200))
                    #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
                    Self.expectWhole(body, Self.size, "\(shape)")
                }
            }
        }
    }

    // MARK: Oversized heads

    enum OversizedHead: String, Sendable, CaseIterable, CustomStringConvertible {
        case requestLine
        case connectLine
        case manyHeaders
        case oneHugeHeader
        case connectHeaders
        case requestLineAfterAKeptAliveRequest
        case requestLinePipelined

        var description: String { rawValue }

        var status: String {
            switch self {
            case .requestLine, .connectLine, .requestLineAfterAKeptAliveRequest, .requestLinePipelined:
                return "HTTP/1.1 414 URI Too Long\r\n"
            case .manyHeaders, .oneHugeHeader, .connectHeaders:
                return "HTTP/1.1 431 Request Header Fields Too Large\r\n"
            }
        }

        /// 2 MB of header fields, as many lines of 1 KB.
        static let manyFields = (0..<2000).map { "X-Filler-\($0): " + String(repeating: "f", count: 1000) + "\r\n" }
            .joined()

        func request(_ port: Int) -> String {
            let longPath = "/" + String(repeating: "a", count: 200 * 1024)
            switch self {
            case .requestLine, .requestLineAfterAKeptAliveRequest, .requestLinePipelined:
                return "GET http://origin.test:\(port)\(longPath) HTTP/1.1\r\nHost: origin.test\r\n\r\n"
            case .connectLine:
                return "CONNECT " + String(repeating: "a", count: 200 * 1024) + ".test:443 HTTP/1.1\r\n\r\n"
            case .manyHeaders:
                return "GET http://origin.test:\(port)/ HTTP/1.1\r\n" + Self.manyFields + "\r\n"
            case .oneHugeHeader:
                return "GET http://origin.test:\(port)/ HTTP/1.1\r\nX-Huge: " + String(repeating: "h", count: 2 << 20)
                    + "\r\n\r\n"
            case .connectHeaders:
                return "CONNECT origin.test:\(port) HTTP/1.1\r\n" + Self.manyFields + "\r\n"
            }
        }
    }

    /// The gateway answers while the client is still sending: the answer must survive (a close with unread input
    /// would reset the connection and discard it), and the connection then ends.
    @Test("an oversized request head gets 414 or 431 and a close", arguments: OversizedHead.allCases)
    func oversizedHeadIsAnswered(_ shape: OversizedHead) async throws {
        let origin = try await Origin.http()
        defer { Task { await origin.close() } }
        let (allow, hosts) = LoopbackTests.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                let normal = "GET http://origin.test:\(origin.port)/first HTTP/1.1\r\n\r\n"
                if shape == .requestLineAfterAKeptAliveRequest {
                    try await client.send(normal)
                    let head = try await client.readHead()
                    #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
                    _ = try await client.read(count: LoopbackTests.contentLength(head))
                }
                let writer = client.outbound
                let request = (shape == .requestLinePipelined ? normal : "") + shape.request(origin.port)
                let sending = Task { try? await writer.write(ByteBuffer(string: request)) }
                if shape == .requestLinePipelined {
                    let head = try await client.readHead()
                    #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"), "the request before the oversized one is answered")
                    _ = try await client.read(count: LoopbackTests.contentLength(head))
                }
                let head = try await client.readHead()
                #expect(head.hasPrefix(shape.status), "\(head.prefix(200).debugDescription)")
                #expect(head.contains("Connection: close\r\n"))
                let body = String(buffer: try await client.read(count: LoopbackTests.contentLength(head)))
                #expect(body.hasPrefix("paddock gateway: "))
                #expect(body.contains("KiB"))
                #expect(try await client.isClosed())
                _ = await sending.value
            }
            let records = try await gateway.records(atLeast: 1)
            #expect(records.last?.decision == .invalid)
        }
    }

    enum StillSending: String, Sendable, CaseIterable, CustomStringConvertible {
        case deniedPost
        case deniedConnectWithEarlyBytes
        case longRequestLine
        case hugeHeaders

        var description: String { rawValue }

        var request: String {
            let body = String(repeating: "b", count: 1 << 20)
            switch self {
            case .deniedPost:
                return "POST http://denied.test/upload HTTP/1.1\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            case .deniedConnectWithEarlyBytes:
                // Bytes right behind the CONNECT, as from a client that sends its TLS hello without waiting.
                return "CONNECT denied.test:443 HTTP/1.1\r\n\r\n" + body
            case .longRequestLine:
                return OversizedHead.requestLine.request(80)
            case .hugeHeaders:
                return OversizedHead.manyHeaders.request(80)
            }
        }

        var status: String {
            switch self {
            case .deniedPost, .deniedConnectWithEarlyBytes: return "HTTP/1.1 403 Forbidden\r\n"
            case .longRequestLine: return OversizedHead.requestLine.status
            case .hugeHeaders: return OversizedHead.manyHeaders.status
            }
        }
    }

    /// The gateway answers while the client is still sending; the client reads only later. Closing with that
    /// input unread would reset the connection, and the reset discards the answer waiting in the client's kernel.
    @Test("a refusal reaches a client that is still sending", arguments: StillSending.allCases)
    func refusalReachesAClientStillSending(_ shape: StillSending) async throws {
        try await GatewayFixture.with(allow: ["good.test"]) { gateway in
            let outcome = try await LazyReader.exchange(
                port: gateway.port, sending: Array(shape.request.utf8), waiting: .milliseconds(300))
            let text = String(decoding: outcome.received, as: UTF8.self)
            #expect(
                text.hasPrefix(shape.status),
                "\(text.prefix(100).debugDescription), errno \(outcome.failure.map(String.init) ?? "none")")
            #expect(text.contains("paddock"))
            #expect(outcome.failure == nil, "the connection was reset")
        }
    }

    // MARK: Upgrades

    @Test func webSocketUpgradeIsRefusedBeforeTheOrigin() async throws {
        let accepted = Counter()
        let origin = try await Origin.upgrading(accepted: accepted)
        defer { Task { await origin.close() } }
        let (allow, hosts) = LoopbackTests.originPolicy(origin.port)
        try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send(
                    "GET http://origin.test:\(origin.port)/chat HTTP/1.1\r\nHost: origin.test\r\n"
                        + "Upgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                let head = try await client.readHead()
                #expect(head.hasPrefix("HTTP/1.1 501 Not Implemented\r\n"), "\(head.debugDescription)")
                let body = String(buffer: try await client.read(count: LoopbackTests.contentLength(head)))
                #expect(body.contains("CONNECT"))
                #expect(body.contains("wss://"))
                #expect(try await client.isClosed())
            }
            #expect(try await gateway.records(atLeast: 1).first?.decision == .invalid)
        }
        #expect(accepted.value == 0, "the origin was contacted")
    }

    /// Sends an `Upgrade: h2c` request to `origin` through a gateway; returns the answer, and whether the gateway
    /// then closed the connection.
    func h2cUpgrade(to origin: Origin) async throws -> (head: String, body: String, closed: Bool) {
        defer { Task { await origin.close() } }
        let (allow, hosts) = LoopbackTests.originPolicy(origin.port)
        return try await GatewayFixture.with(allow: allow, hosts: hosts) { gateway in
            try await Connect.tcp(port: gateway.port) { (client: inout Conversation) async throws in
                try await client.send(
                    "GET http://origin.test:\(origin.port)/h2c HTTP/1.1\r\nHost: origin.test\r\nUpgrade: h2c\r\n"
                        + "Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
                let head = try await client.readHead()
                let body = String(buffer: try await client.read(count: LoopbackTests.contentLength(head)))
                return (head, body, try await client.isClosed())
            }
        }
    }

    /// The gateway drops `Upgrade` (hop by hop); an origin that switches protocols anyway gets no tunnel through a
    /// plain request, and the client gets an answer instead of a `101` it cannot use.
    @Test func anUpgradeTheOriginGrantsAnywayIsNotRelayed() async throws {
        let (head, body, closed) = try await h2cUpgrade(to: try await Origin.upgrading(accepted: Counter()))
        #expect(head.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"), "\(head.debugDescription)")
        #expect(body.contains("101"))
        #expect(!body.contains("hello"))
        #expect(closed)
    }

    /// An origin that ignores the (dropped) upgrade answers normally; the gateway's request parser stops after an
    /// upgrade request, so the connection must end after that answer rather than go dead.
    @Test func anIgnoredUpgradeIsAnsweredAndTheConnectionEnds() async throws {
        let (head, body, closed) = try await h2cUpgrade(to: try await Origin.http())
        #expect(head.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(head.lowercased().contains("connection: close\r\n"))
        #expect(body.hasPrefix("method=GET uri=/h2c"))
        #expect(closed)
    }
}
