import Foundation
import NIOCore
import NIOPosix
import PaddockCore
import PaddockGateway

// paddock-gateway-bench: hosts the gateway for bench/gateway/run.py, plus the origin and load generator that
// measure it against other proxies. Loopback only. Not part of the paddock product.
#if canImport(Glibc)
    import Glibc
    private let systemConnect = Glibc.connect
    private let systemSend = Glibc.send
#elseif canImport(Darwin)
    import Darwin
    private let systemConnect = Darwin.connect
    private let systemSend = Darwin.send
#endif

let usage = """
    usage: paddock-gateway-bench serve PORT [LOGFILE]        gateway on 127.0.0.1:PORT allowing 127.0.0.1/32 on any port
           paddock-gateway-bench serve-transports SOCKET PORT SECRET   unix socket, and PORT wanting paddock:SECRET
           paddock-gateway-bench serve-minimal PORT          the floor: a bare SwiftNIO CONNECT proxy, no policy or log
           paddock-gateway-bench origin PORT                 origin: a client sends "N\\n" and gets N bytes, then EOF
           paddock-gateway-bench throughput PROXY TARGET BYTES   PROXY is host:port or "direct"
           paddock-gateway-bench setup PROXY TARGET COUNT THREADS
           paddock-gateway-bench hold PROXY TARGET COUNT     opens COUNT tunnels, prints "held", waits for stdin EOF
           paddock-gateway-bench intercept REQUESTS CONNECTIONS BYTES   intercepted vs plain tunnel, in-process
    """

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(2)
}

func now() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

func parseHostPort(_ text: String) -> (String, UInt16) {
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
        fail("expected HOST:PORT, got \(text)")
    }
    return (String(text[..<colon]), port)
}

/// Blocking TCP client calls: the load generator runs on plain threads so its own overhead is small and steady.
enum Socket {
    static func connect(_ host: String, _ port: UInt16) -> Int32 {
        #if canImport(Glibc)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { fail("socket: \(errno)") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                systemConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { fail("connect \(host):\(port): errno \(errno)") }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return -1 }
                return systemSend(fd, base + offset, raw.count - offset, 0)
            }
            guard sent > 0 else { fail("send: errno \(errno)") }
            offset += sent
        }
    }

    /// Reads an HTTP response head and checks that it is a 200. Reads in blocks, not byte by byte: nothing can
    /// follow the head before the client speaks (the origin answers only "N\n"), and a recv per byte made the load
    /// generator's core, shared with the origin, the limit for the fastest proxy (tinyproxy: 7.3k/s, now 9.7k/s).
    static func expect200(_ fd: Int32) {
        var head: [UInt8] = []
        var block = [UInt8](repeating: 0, count: 512)
        func complete() -> Bool {
            head.count >= 4 && (0...(head.count - 4)).contains { head[$0..<($0 + 4)] == [13, 10, 13, 10] }
        }
        while !complete() {
            let count = block.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { fail("proxy closed before answering") }
            head.append(contentsOf: block[..<count])
            guard head.count < 16_384 else { fail("response head too long") }
        }
        guard head.count > 12, head[9] == UInt8(ascii: "2"), head[10] == UInt8(ascii: "0"),
            head[11] == UInt8(ascii: "0")
        else { fail("proxy answered: \(String(decoding: head, as: UTF8.self))") }
    }

    /// Connects to TARGET, through PROXY with CONNECT unless PROXY is "direct".
    static func open(proxy: String, target: String) -> Int32 {
        if proxy == "direct" {
            let (host, port) = parseHostPort(target)
            return connect(host, port)
        }
        let (host, port) = parseHostPort(proxy)
        let fd = connect(host, port)
        send(fd, "CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\n\(proxyAuthorization)\r\n")
        expect200(fd)
        return fd
    }
}

/// `PADDOCK_BENCH_PROXY_AUTH=user:secret` sends the relay transport's credential with every CONNECT.
let proxyAuthorization: String =
    ProcessInfo.processInfo.environment["PADDOCK_BENCH_PROXY_AUTH"].map {
        "Proxy-Authorization: Basic \(Data($0.utf8).base64EncodedString())\r\n"
    } ?? ""

func throughput(proxy: String, target: String, bytes: Int) {
    let fd = Socket.open(proxy: proxy, target: target)
    let started = now()
    Socket.send(fd, "\(bytes)\n")
    let bufferSize = 1 << 20
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 16)
    var received = 0
    while received < bytes {
        let count = recv(fd, buffer, bufferSize, 0)
        guard count > 0 else { fail("EOF after \(received) bytes") }
        received += count
    }
    let seconds = Double(now() - started) / 1e9
    close(fd)
    print("bytes=\(received) seconds=\(seconds) MiBps=\(Double(received) / 1_048_576 / seconds)")
}

final class Latencies: @unchecked Sendable {
    // Each thread writes only its own slot; read after all threads are joined.
    var perThread: [[UInt64]]
    init(threads: Int) { perThread = Array(repeating: [], count: threads) }
}

func setup(proxy: String, target: String, count: Int, threads: Int) {
    let latencies = Latencies(threads: threads)
    let started = now()
    let group = DispatchGroup()
    for index in 0..<threads {
        group.enter()
        let thread = Thread {
            var mine: [UInt64] = []
            mine.reserveCapacity(count / threads + 1)
            for _ in 0..<(count / threads) {
                let t0 = now()
                let fd = Socket.open(proxy: proxy, target: target)
                mine.append(now() - t0)
                close(fd)
            }
            latencies.perThread[index] = mine
            group.leave()
        }
        thread.start()
    }
    group.wait()
    let wall = Double(now() - started) / 1e9
    let all = latencies.perThread.flatMap { $0 }.sorted()
    func percentile(_ p: Double) -> Double { Double(all[min(all.count - 1, Int(Double(all.count) * p))]) / 1000 }
    print(
        "count=\(all.count) seconds=\(wall) rate=\(Double(all.count) / wall) p50us=\(percentile(0.5)) p99us=\(percentile(0.99))"
    )
}

func hold(proxy: String, target: String, count: Int) {
    var fds: [Int32] = []
    for _ in 0..<count { fds.append(Socket.open(proxy: proxy, target: target)) }
    print("held \(fds.count)")
    fflush(nil)
    var byte: UInt8 = 0
    while read(0, &byte, 1) > 0 {}
    for fd in fds { close(fd) }
}

/// The origin: reads "N\n", answers N bytes, closes. A client that sends nothing is simply kept.
final class OriginHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var request = ""
    private var remaining = -1
    private static let chunk = ByteBuffer(repeating: 0x5A, count: 256 * 1024)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard remaining < 0 else { return }
        request += String(buffer: unwrapInboundIn(data))
        guard let newline = request.firstIndex(of: "\n") else { return }
        remaining = Int(request[..<newline]) ?? 0
        pump(context)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        pump(context)
    }

    private func pump(_ context: ChannelHandlerContext) {
        guard remaining > 0 else { return }
        while remaining > 0 && context.channel.isWritable {
            let size = min(remaining, Self.chunk.readableBytes)
            remaining -= size
            context.write(wrapOutboundOut(Self.chunk.getSlice(at: 0, length: size) ?? Self.chunk), promise: nil)
        }
        context.flush()
        if remaining == 0 {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

func origin(port: Int) async throws {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.backlog, value: 4096)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(OriginHandler()) }
        }
        .bind(host: "127.0.0.1", port: port).get()
    print("origin listening on \(channel.localAddress?.port ?? 0)")
    fflush(nil)
    try await channel.closeFuture.get()
}

/// CPUs this process may run on: the hex mask on the "Cpus_allowed:" line of /proc/self/status.
func allowedCPUs() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
    else { return System.coreCount }
    let count = line.dropFirst("Cpus_allowed:".count).reduce(0) { sum, digit in
        sum + (Int(String(digit), radix: 16)?.nonzeroBitCount ?? 0)
    }
    return max(1, count)
}

func serve(port: Int, logPath: String?) async throws {
    let policy = try NetworkPolicy(config: NetworkConfig(allow: ["127.0.0.1/32:*"]))
    let log: any ConnectionLogSink = try logPath.map { try FileConnectionLog(path: $0) } ?? MemoryConnectionLog()
    let gateway = Gateway(
        configuration: GatewayConfiguration(tcpHost: "127.0.0.1", tcpPort: port, maxConnections: 100_000),
        policies: PolicyStore(policy), log: log,
        // One event loop per core the proxy may use, as squid runs with `workers 1` on its one core. NIO's singleton
        // counts the machine's cores and ignores taskset: two loops on one core hand every accepted connection to
        // the other thread (~15 us of system time) and preempt each other (p99 1.2 -> 2 ms).
        group: MultiThreadedEventLoopGroup(numberOfThreads: allowedCPUs()))
    let endpoints = try await gateway.start()
    print("gateway listening on \(endpoints.tcpAddress?.port ?? 0)")
    fflush(nil)
    while true { try await Task.sleep(for: .seconds(3600)) }
}

/// The gateway as a session hosts it for the folder and relay transports: the unix socket with no credential,
/// and 127.0.0.1:PORT wanting `paddock:SECRET`.
func serveTransports(socket: String, port: Int, secret: String) async throws {
    let policy = try NetworkPolicy(config: NetworkConfig(allow: ["127.0.0.1/32:*"]))
    let gateway = Gateway(
        configuration: GatewayConfiguration(
            unixSocketPath: socket, unixSocketMode: 0o600, tcpHost: "127.0.0.1", tcpPort: port,
            tcpCredential: ProxyCredential(secret: secret), maxConnections: 100_000),
        policies: PolicyStore(policy), log: MemoryConnectionLog(),
        group: MultiThreadedEventLoopGroup(numberOfThreads: allowedCPUs()))
    let endpoints = try await gateway.start()
    print("gateway listening on \(socket) and \(endpoints.tcpAddress?.port ?? 0)")
    fflush(nil)
    while true { try await Task.sleep(for: .seconds(3600)) }
}

func integer(_ text: String) -> Int {
    guard let value = Int(text) else { fail(usage) }
    return value
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch (arguments.first, arguments.count) {
case ("serve", 2), ("serve", 3):
    try await serve(port: integer(arguments[1]), logPath: arguments.count == 3 ? arguments[2] : nil)
case ("serve-transports", 4):
    try await serveTransports(socket: arguments[1], port: integer(arguments[2]), secret: arguments[3])
case ("serve-minimal", 2):
    try await serveMinimal(port: integer(arguments[1]))
case ("origin", 2):
    try await origin(port: integer(arguments[1]))
case ("throughput", 4):
    throughput(proxy: arguments[1], target: arguments[2], bytes: integer(arguments[3]))
case ("setup", 5):
    setup(proxy: arguments[1], target: arguments[2], count: integer(arguments[3]), threads: integer(arguments[4]))
case ("intercept", 4):
    try await intercept(
        requests: integer(arguments[1]), connections: integer(arguments[2]), bulkBytes: integer(arguments[3]))
case ("hold", 4):
    hold(proxy: arguments[1], target: arguments[2], count: integer(arguments[3]))
default:
    fail(usage)
}
