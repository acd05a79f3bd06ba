import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The test's own servers on 127.0.0.1. Nothing here ever talks to another address.
struct Origin: Sendable {
    let channel: Channel
    var port: Int { channel.localAddress?.port ?? 0 }

    func close() async {
        try? await channel.close()
    }

    static func start(_ makeHandlers: @escaping @Sendable () throws -> [ChannelHandler]) async throws -> Origin {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(try makeHandlers())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return Origin(channel: channel)
    }

    /// Echoes every byte; a half-close from the client is answered with a half-close once everything is echoed.
    static func echo() async throws -> Origin {
        try await start { [EchoHandler()] }
    }

    /// Reads until the client half-closes, then answers `got N bytes` and closes.
    static func countThenAnswer() async throws -> Origin {
        try await start { [CountingHandler()] }
    }

    /// Sends `total` bytes as fast as the reader takes them, then closes.
    static func source(total: Int) async throws -> Origin {
        try await start { [SourceHandler(total: total)] }
    }

    /// Sends one letter every `interval`, `count` times in all, then waits. The origin's event loop keeps the time,
    /// not the test's tasks, so a busy test process cannot open gaps in the traffic.
    static func ticker(count: Int, every interval: TimeAmount) async throws -> Origin {
        try await start { [TickerHandler(count: count, interval: interval)] }
    }

    /// A small HTTP/1.1 server describing each request it gets; with `tls` it speaks HTTPS.
    static func http(tls: NIOSSLContext? = nil) async throws -> Origin {
        try await start {
            var handlers: [ChannelHandler] = []
            if let tls { handlers.append(NIOSSLServerHandler(context: tls)) }
            handlers.append(HTTPResponseEncoder())
            handlers.append(ByteToMessageHandler(HTTPRequestDecoder()))
            handlers.append(DescribingHTTPHandler())
            return handlers
        }
    }
}

final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            // Input is gone, so a bare output close would escalate and drop unsent echoes: flush first.
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in
                channel.close(mode: .output, promise: nil)
            }
        }
    }
}

final class CountingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var count = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        count += unwrapInboundIn(data).readableBytes
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "got \(count) bytes"))).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }
}

final class SourceHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var remaining: Int
    private let chunk = ByteBuffer(repeating: 0x61, count: 64 * 1024)

    init(total: Int) {
        remaining = total
    }

    func channelActive(context: ChannelHandlerContext) {
        pump(context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        pump(context)
    }

    private func pump(_ context: ChannelHandlerContext) {
        while remaining > 0 && context.channel.isWritable {
            let size = min(remaining, chunk.readableBytes)
            remaining -= size
            context.write(wrapOutboundOut(chunk.getSlice(at: 0, length: size) ?? chunk), promise: nil)
        }
        context.flush()
        if remaining == 0 {
            remaining = -1
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

final class TickerHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let count: Int
    private let interval: TimeAmount
    private var sent = 0
    private var next: Scheduled<Void>?

    init(count: Int, interval: TimeAmount) {
        self.count = count
        self.interval = interval
    }

    /// The letters a reader sees from a ticker of `count` ticks.
    static func expected(count: Int) -> String {
        String((0..<count).map { Character(UnicodeScalar(UInt8(ascii: "a") + UInt8($0 % 26))) })
    }

    func channelActive(context: ChannelHandlerContext) {
        tick(context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        next?.cancel()
        context.fireChannelInactive()
    }

    private func tick(_ context: ChannelHandlerContext) {
        guard sent < count, context.channel.isActive else { return }
        let letter = UInt8(ascii: "a") + UInt8(sent % 26)
        sent += 1
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [letter])), promise: nil)
        next = context.eventLoop.assumeIsolated().scheduleTask(in: interval) { self.tick(context) }
    }
}

/// Answers `GET /…` with a body naming the method, target and Host it saw, so tests can check the rewriting.
/// `/close` answers without a length and closes; `/chunked` answers chunked.
final class DescribingHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private var head: HTTPRequestHead?
    private var bodyBytes = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            bodyBytes = 0
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
        case .end:
            guard let head else { return }
            let proxyHeaders = head.headers.filter { $0.name.lowercased().hasPrefix("proxy-") }.map(\.name)
            let text =
                "method=\(head.method) uri=\(head.uri) host=\(head.headers["host"].joined()) "
                + "body=\(bodyBytes) proxy-headers=\(proxyHeaders)"
            var responseHead = HTTPResponseHead(version: .http1_1, status: .ok)
            switch head.uri {
            case "/chunked":
                responseHead.headers.add(name: "transfer-encoding", value: "chunked")
            case "/close":
                responseHead.headers.add(name: "connection", value: "close")
            default:
                responseHead.headers.add(name: "content-length", value: String(text.utf8.count))
            }
            context.write(wrapOutboundOut(.head(responseHead)), promise: nil)
            if head.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            }
            let channel = context.channel
            let close = head.uri == "/close"
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if close { channel.close(promise: nil) }
            }
            self.head = nil
        }
    }
}

/// A self-signed certificate for `origin.test` (or `name`), made with openssl for this test run.
struct TestCertificate {
    let certificate: NIOSSLCertificate
    let key: NIOSSLPrivateKey

    static func make(name: String = "origin.test") throws -> TestCertificate {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("paddock-gw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let certPath = dir.appendingPathComponent("cert.pem").path
        let keyPath = dir.appendingPathComponent("key.pem").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", keyPath, "-out", certPath, "-days", "1", "-subj", "/CN=\(name)",
            "-addext", "subjectAltName=DNS:\(name)",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "openssl", code: Int(process.terminationStatus))
        }
        guard let certificate = try NIOSSLCertificate.fromPEMFile(certPath).first else {
            throw NSError(
                domain: "openssl", code: 0, userInfo: [NSLocalizedDescriptionKey: "no certificate in \(certPath)"])
        }
        return TestCertificate(
            certificate: certificate,
            key: try NIOSSLPrivateKey(file: keyPath, format: .pem))
    }

    func serverContext() throws -> NIOSSLContext {
        try NIOSSLContext(
            configuration: .makeServerConfiguration(
                certificateChain: [.certificate(certificate)], privateKey: .privateKey(key)))
    }

    func clientContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates([certificate])
        return try NIOSSLContext(configuration: configuration)
    }
}

/// A loopback TCP port bound but never listening: connecting to it is refused, and nothing else can bind it
/// until `release()`.
struct ReservedPort {
    let descriptor: Int32
    let port: Int

    init() throws {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw ChannelError.operationUnsupported }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw ChannelError.operationUnsupported
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func release() {
        close(descriptor)
    }
}

/// How `BulkHTTPHandler` frames its answer; the shapes origins in the wild use.
enum BulkFraming: String, Sendable, CaseIterable, CustomStringConvertible {
    /// `HTTP/1.0`, no length: the body ends when the origin closes (Python's `http.server` on a stream).
    case closeDelimited
    /// `HTTP/1.0` with `Content-Length`, then close (Python's `http.server` serving a file).
    case contentLengthThenClose
    /// `HTTP/1.1` chunked, then close.
    case chunkedThenClose
    /// `HTTP/1.1` with `Content-Length`, and the connection stays open for the next request.
    case contentLengthKeepAlive
    /// Announces twice the length, sends `payload` and closes: a download cut short by the origin.
    case cutShort

    var description: String { rawValue }
}

extension Origin {
    /// Answers every request with `BulkPayload.bytes(size)` framed as `framing`, written as fast as the origin's
    /// socket takes it (the whole body is queued at once, like a server writing a file), then closed where the
    /// framing says so. `/size/N` in the request path asks for N bytes instead.
    static func bulk(_ framing: BulkFraming, size: Int) async throws -> Origin {
        try await start { [BulkHTTPHandler(framing: framing, size: size)] }
    }
}

enum BulkPayload {
    static let limit = 16 << 20
    private static let pattern = make(limit)

    /// Deterministic, position-dependent bytes (up to `limit`): a lost, repeated or reordered slice shows.
    static func bytes(_ count: Int) -> ByteBuffer {
        pattern.getSlice(at: 0, length: min(count, limit)) ?? ByteBuffer()
    }

    private static func make(_ count: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(count)
        var state: UInt32 = 0x9E37_79B9
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
            for index in 0..<count {
                state = state &* 1_664_525 &+ 1_013_904_223
                pointer[index] = UInt8(truncatingIfNeeded: state >> 24)
            }
            return count
        }
        return buffer
    }
}

final class BulkHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let framing: BulkFraming
    private let size: Int
    private var pending = ByteBuffer()

    init(framing: BulkFraming, size: Int) {
        self.framing = framing
        self.size = size
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending.writeBuffer(&buffer)
        while let text = pending.getString(at: pending.readerIndex, length: pending.readableBytes),
            let end = text.range(of: "\r\n\r\n")
        {
            let head = String(text[..<end.upperBound])
            pending.moveReaderIndex(forwardBy: head.utf8.count)
            let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "/"
            let size = path.hasPrefix("/size/") ? Int(path.dropFirst("/size/".count)) ?? self.size : self.size
            respond(context, BulkPayload.bytes(size))
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ body: ByteBuffer) {
        let head: String
        switch framing {
        case .closeDelimited: head = "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n"
        case .contentLengthThenClose: head = "HTTP/1.0 200 OK\r\nContent-Length: \(body.readableBytes)\r\n\r\n"
        case .chunkedThenClose: head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        case .contentLengthKeepAlive: head = "HTTP/1.1 200 OK\r\nContent-Length: \(body.readableBytes)\r\n\r\n"
        case .cutShort: head = "HTTP/1.1 200 OK\r\nContent-Length: \(body.readableBytes * 2)\r\n\r\n"
        }
        context.write(wrapOutboundOut(ByteBuffer(string: head)), promise: nil)
        let slice = 64 * 1024
        var offset = 0
        while offset < body.readableBytes {
            let length = min(slice, body.readableBytes - offset)
            let part = body.getSlice(at: body.readerIndex + offset, length: length) ?? ByteBuffer()
            if framing == .chunkedThenClose {
                context.write(wrapOutboundOut(ByteBuffer(string: String(length, radix: 16) + "\r\n")), promise: nil)
                context.write(wrapOutboundOut(part), promise: nil)
                context.write(wrapOutboundOut(ByteBuffer(string: "\r\n")), promise: nil)
            } else {
                context.write(wrapOutboundOut(part), promise: nil)
            }
            offset += length
        }
        if framing == .chunkedThenClose {
            context.write(wrapOutboundOut(ByteBuffer(string: "0\r\n\r\n")), promise: nil)
        }
        let channel = context.channel
        let keepOpen = framing == .contentLengthKeepAlive
        // Closed only once every byte is with the kernel, as a server does when it closes after a response.
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in
            if !keepOpen { channel.close(promise: nil) }
        }
    }
}

/// Answers every request with `101 Switching Protocols` and then talks WebSocket-ish bytes: an origin that upgrades
/// whether or not the request still asked for it. Counts the connections it accepted.
final class UpgradingHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let accepted: Counter

    init(accepted: Counter) {
        self.accepted = accepted
    }

    func channelActive(context: ChannelHandlerContext) {
        accepted.increment()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let head =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: head + "\u{81}\u{05}hello")), promise: nil)
    }
}

extension Origin {
    static func upgrading(accepted: Counter) async throws -> Origin {
        try await start { [UpgradingHTTPHandler(accepted: accepted)] }
    }
}
