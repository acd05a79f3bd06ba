// `paddock-gateway-bench intercept`: what terminating TLS at the gateway costs, against a plain tunnel, in one run
// on loopback. Two HTTPS origins of its own (`plain.bench` behind an opaque tunnel, `intercepted.bench` behind a
// credential rule), one gateway, one client; the same requests through each.
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PaddockCore
import PaddockGateway

/// The origin: `GET /small` answers 100 bytes, `GET /bulk/N` answers N bytes as fast as the reader takes them.
final class BenchOriginHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    private static let chunk = ByteBuffer(repeating: 0x5A, count: 64 * 1024)
    private var remaining = 0
    private var path = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            path = head.uri
        case .body:
            break
        case .end:
            remaining = path.hasPrefix("/bulk/") ? Int(path.dropFirst(6)) ?? 0 : 100
            var head = HTTPResponseHead(version: .http1_1, status: .ok)
            head.headers.add(name: "content-length", value: String(remaining))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            pump(context)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        pump(context)
    }

    private func pump(_ context: ChannelHandlerContext) {
        guard remaining > 0 else { return }
        while remaining > 0, context.channel.isWritable {
            let size = min(remaining, Self.chunk.readableBytes)
            remaining -= size
            context.write(
                wrapOutboundOut(.body(.byteBuffer(Self.chunk.getSlice(at: 0, length: size) ?? Self.chunk))),
                promise: nil)
        }
        if remaining == 0 { context.write(wrapOutboundOut(.end(nil)), promise: nil) }
        context.flush()
    }
}

/// Sends `count` requests one after the other on one connection, timing each from write to the response's end.
final class BenchRequester: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart
    struct Outcome {
        var latencies: [UInt64]
        var bodyBytes: Int
    }

    private let head: HTTPRequestHead
    private var remaining: Int
    private var started: UInt64 = 0
    private var outcome = Outcome(latencies: [], bodyBytes: 0)
    private let done: EventLoopPromise<Outcome>

    init(head: HTTPRequestHead, count: Int, done: EventLoopPromise<Outcome>) {
        self.head = head
        self.remaining = count
        self.done = done
    }

    func start(_ context: ChannelHandlerContext) {
        started = now()
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let response):
            if response.status != .ok { done.fail(BenchError("status \(response.status.code)")) }
        case .body(let body):
            outcome.bodyBytes += body.readableBytes
        case .end:
            outcome.latencies.append(now() - started)
            remaining -= 1
            if remaining > 0 { start(context) } else { done.succeed(outcome) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(BenchError("closed"))
    }
}

/// Writes a CONNECT, waits for the 200, then puts TLS and HTTP on the connection and starts the requester.
final class BenchConnectStage: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let target: String
    private let tls: NIOSSLContext
    private let host: String
    private let requester: BenchRequester
    private var received = ""

    init(target: String, tls: NIOSSLContext, host: String, requester: BenchRequester) {
        self.target = target
        self.tls = tls
        self.host = host
        self.requester = requester
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(
            wrapOutboundOut(ByteBuffer(string: "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n\r\n")), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
        guard received.contains("\r\n\r\n") else { return }
        guard received.hasPrefix("HTTP/1.1 200") else {
            context.fireErrorCaught(BenchError("proxy answered \(received)"))
            return
        }
        do {
            let sync = context.pipeline.syncOperations
            try sync.addHandler(NIOSSLClientHandler(context: tls, serverHostname: host))
            try sync.addHTTPClientHandlers()
            try sync.addHandler(requester)
            let requester = self.requester
            guard let requesterContext = try? sync.context(handler: requester) else { throw BenchError("no requester") }
            sync.removeHandler(context: context, promise: nil)
            requester.start(requesterContext)
        } catch {
            context.fireErrorCaught(error)
        }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One connection through the gateway to `host:port`, `count` requests for `path`.
@discardableResult
func benchConnection(
    gateway: Int, host: String, port: Int, tls: NIOSSLContext, path: String, count: Int, headers: HTTPHeaders,
    group: EventLoopGroup
) async throws -> BenchRequester.Outcome {
    let loop = group.next()
    let done = loop.makePromise(of: BenchRequester.Outcome.self)
    var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
    head.headers.replaceOrAdd(name: "host", value: host)
    let requester = BenchRequester(head: head, count: count, done: done)
    // Made here, used on `loop` only: the channel's initializer runs there.
    let stage = NIOLoopBound(
        BenchConnectStage(target: "\(host):\(port)", tls: tls, host: host, requester: requester), eventLoop: loop)
    let channel = try await ClientBootstrap(group: loop)
        .channelOption(.tcpOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(stage.value) }
        }
        .connect(host: "127.0.0.1", port: gateway).get()
    let outcome = try await done.futureResult.get()
    try? await channel.close()
    return outcome
}

func percentileMicros(_ values: [UInt64], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000
}

func intercept(requests: Int, connections: Int, bulkBytes: Int) async throws {
    let group = MultiThreadedEventLoopGroup.singleton
    // The origins' certificates come from an authority of the bench's own, which the gateway trusts upstream.
    let originAuthority = try SessionAuthority(session: "bench-origin", hosts: ["plain.bench", "intercepted.bench"])
    var origins: [String: Int] = [:]
    for host in ["plain.bench", "intercepted.bench"] {
        let context = try originAuthority.serverContext(for: host)
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLServerHandler(context: context))
                    try sync.configureHTTPServerPipeline()
                    try sync.addHandler(BenchOriginHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        origins[host] = server.localAddress?.port ?? 0
    }
    let plainPort = origins["plain.bench"] ?? 0
    let interceptedPort = origins["intercepted.bench"] ?? 0
    let session = SessionID.make()
    let secrets = try SessionSecrets.resolve(
        userRules: [
            CredentialRule(host: "intercepted.bench", port: interceptedPort, header: .apiKey, variable: "BENCH_KEY")
        ],
        profileRules: [], requestRules: [], environment: ["BENCH_KEY": "bench-secret"], home: "/", session: session)
    let authority = try SessionAuthority(session: session.rawValue, hosts: Interception.hosts(secrets))
    let originRoot = try NIOSSLCertificate(bytes: Array(originAuthority.certificatePEM.utf8), format: .pem)
    let policy = try NetworkPolicy(
        config: NetworkConfig(
            allow: ["plain.bench:\(plainPort)", "intercepted.bench:\(interceptedPort)", "127.0.0.1/32:*"],
            hosts: ["plain.bench": "127.0.0.1", "intercepted.bench": "127.0.0.1"]))
    let gateway = Gateway(
        configuration: GatewayConfiguration(
            tcpHost: "127.0.0.1", tcpPort: 0,
            interception: Interception(
                secrets: secrets, authority: authority, upstreamTrustRoots: .certificates([originRoot]))),
        policies: PolicyStore(policy), log: MemoryConnectionLog(),
        group: MultiThreadedEventLoopGroup(numberOfThreads: allowedCPUs()))
    let gatewayPort = try await gateway.start().tcpAddress?.port ?? 0

    func client(trusting pem: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem)])
        configuration.applicationProtocols = ["http/1.1"]
        return try NIOSSLContext(configuration: configuration)
    }
    let modes: [(name: String, host: String, port: Int, tls: NIOSSLContext)] = [
        ("plain tunnel", "plain.bench", plainPort, try client(trusting: originAuthority.certificatePEM)),
        ("intercepted", "intercepted.bench", interceptedPort, try client(trusting: authority.certificatePEM)),
    ]
    var headers = HTTPHeaders()
    headers.add(name: "x-api-key", value: secrets.sandboxEnvironment["BENCH_KEY"] ?? "")
    var results: [String: [String: Double]] = [:]
    for mode in modes {
        // Warm up, then the kept-alive requests.
        try await benchConnection(
            gateway: gatewayPort, host: mode.host, port: mode.port, tls: mode.tls, path: "/small", count: 200,
            headers: headers, group: group)
        let kept = try await benchConnection(
            gateway: gatewayPort, host: mode.host, port: mode.port, tls: mode.tls, path: "/small", count: requests,
            headers: headers, group: group)
        var firsts: [UInt64] = []
        for _ in 0..<connections {
            let started = now()
            try await benchConnection(
                gateway: gatewayPort, host: mode.host, port: mode.port, tls: mode.tls, path: "/small", count: 1,
                headers: headers, group: group)
            firsts.append(now() - started)
        }
        var best = 0.0
        for _ in 0..<3 {
            let started = now()
            let bulk = try await benchConnection(
                gateway: gatewayPort, host: mode.host, port: mode.port, tls: mode.tls, path: "/bulk/\(bulkBytes)",
                count: 1, headers: headers, group: group)
            let seconds = Double(now() - started) / 1e9
            guard bulk.bodyBytes == bulkBytes else { throw BenchError("bulk got \(bulk.bodyBytes) of \(bulkBytes)") }
            best = max(best, Double(bulkBytes) / 1_048_576 / seconds)
        }
        results[mode.name] = [
            "p50us": percentileMicros(kept.latencies, 0.5), "p99us": percentileMicros(kept.latencies, 0.99),
            "connectP50us": percentileMicros(firsts, 0.5), "connectP99us": percentileMicros(firsts, 0.99),
            "MiBps": best,
        ]
        print(
            "\(mode.name): request p50 \(results[mode.name]?["p50us"] ?? 0) us p99 \(results[mode.name]?["p99us"] ?? 0) us; "
                + "new connection + first request p50 \(results[mode.name]?["connectP50us"] ?? 0) us p99 "
                + "\(results[mode.name]?["connectP99us"] ?? 0) us; bulk \(best) MiB/s")
        fflush(nil)
    }
    let plain = results["plain tunnel"] ?? [:]
    let intercepted = results["intercepted"] ?? [:]
    func delta(_ key: String) -> Double { (intercepted[key] ?? 0) - (plain[key] ?? 0) }
    print(
        "added per request: p50 \(delta("p50us")) us, p99 \(delta("p99us")) us; added per new connection: p50 "
            + "\(delta("connectP50us")) us; bulk ratio \((intercepted["MiBps"] ?? 0) / max(plain["MiBps"] ?? 1, 0.001))"
    )
    if let data = try? JSONSerialization.data(withJSONObject: results, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
    }
    await gateway.shutdown()
}
