import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import PaddockCore
import Testing

@testable import PaddockGateway

/// Never consulted in these tests unless a name is listed: proves a name was (or was not) resolved, without DNS.
final class RecordingResolver: NameResolver {
    private let answers: [String: [IPAddress]]
    private let asked = NIOLockedValueBox<[String]>([])

    init(_ answers: [String: [IPAddress]] = [:]) {
        self.answers = answers
    }

    var queries: [String] { asked.withLockedValue { $0 } }

    func resolve(_ name: String) async throws -> [IPAddress] {
        asked.withLockedValue { $0.append(name) }
        guard let addresses = answers[name] else {
            throw ResolutionError(name: name, reason: "not in the test's table")
        }
        return addresses
    }
}

/// A running gateway on 127.0.0.1 with the test's policy and an in-memory log.
struct GatewayFixture {
    let gateway: Gateway
    let policies: PolicyStore
    let log: MemoryConnectionLog
    let resolver: RecordingResolver
    let port: Int

    static func policy(allow: [String] = [], deny: [String] = [], hosts: [String: String] = [:]) throws -> NetworkPolicy
    {
        try NetworkPolicy(config: NetworkConfig(allow: allow, deny: deny, hosts: hosts))
    }

    /// Starts a gateway, runs `body`, and always shuts the gateway down.
    static func with<T>(
        allow: [String] = [], deny: [String] = [], hosts: [String: String] = [:],
        resolver: RecordingResolver = RecordingResolver(), logger: Logger = Logger(label: "paddock.gateway"),
        configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: (GatewayFixture) async throws -> T
    ) async throws -> T {
        var configuration = GatewayConfiguration(tcpHost: "127.0.0.1", tcpPort: 0)
        configure(&configuration)
        let policies = PolicyStore(try policy(allow: allow, deny: deny, hosts: hosts))
        let log = MemoryConnectionLog()
        let gateway = Gateway(
            configuration: configuration, policies: policies, log: log, resolver: resolver, logger: logger)
        let endpoints = try await gateway.start()
        let fixture = GatewayFixture(
            gateway: gateway, policies: policies, log: log, resolver: resolver, port: endpoints.tcpAddress?.port ?? 0)
        do {
            let result = try await body(fixture)
            await gateway.shutdown()
            return result
        } catch {
            await gateway.shutdown()
            throw error
        }
    }

    /// Waits until the log holds `count` records (tunnels are logged when they end).
    func records(atLeast count: Int, timeout: Duration = .seconds(10)) async throws -> [ConnectionRecord] {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            let records = log.records
            if records.count >= count { return records }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("expected \(count) log records, have \(log.records.count): \(log.records)")
        return log.records
    }
}

struct TestTimeout: Error, CustomStringConvertible {
    let description: String
}

/// One client connection as a conversation: send bytes, read until a marker or the end.
struct Conversation {
    let channel: Channel
    var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    var received = ByteBuffer()
    private(set) var sawEOF = false

    mutating func send(_ text: String) async throws {
        try await outbound.write(ByteBuffer(string: text))
    }

    mutating func send(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    mutating func send(_ buffer: ByteBuffer) async throws {
        try await outbound.write(buffer)
    }

    /// Half-closes: no more bytes from this side.
    func finishSending() {
        outbound.finish()
    }

    /// Reads at least `count` bytes and returns exactly `count`.
    mutating func read(count: Int) async throws -> ByteBuffer {
        while received.readableBytes < count {
            guard var next = try await iterator.next() else {
                throw TestTimeout(description: "EOF after \(received.readableBytes) of \(count) bytes")
            }
            received.writeBuffer(&next)
        }
        return received.readSlice(length: count) ?? ByteBuffer()
    }

    /// Reads until `marker` appears; returns everything up to and including it.
    mutating func read(until marker: String) async throws -> String {
        while true {
            if let text = received.getString(at: received.readerIndex, length: received.readableBytes),
                let range = text.range(of: marker)
            {
                let length = text[..<range.upperBound].utf8.count
                return received.readString(length: length) ?? ""
            }
            guard var next = try await iterator.next() else {
                sawEOF = true
                return received.readString(length: received.readableBytes) ?? ""
            }
            received.writeBuffer(&next)
        }
    }

    /// Reads an HTTP response head (through the blank line).
    mutating func readHead() async throws -> String {
        try await read(until: "\r\n\r\n")
    }

    /// Everything until the peer closes.
    mutating func readToEnd() async throws -> String {
        while var next = try await iterator.next() {
            received.writeBuffer(&next)
        }
        sawEOF = true
        return received.readString(length: received.readableBytes) ?? ""
    }

    /// Whether the peer closes within `timeout` (whatever it still sends is read and dropped).
    mutating func isClosed(within timeout: Duration = .seconds(5)) async throws -> Bool {
        let fired = NIOLockedValueBox(false)
        let channel = self.channel
        let timer = Task {
            try await Task.sleep(for: timeout)
            fired.withLockedValue { $0 = true }
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        _ = try? await readToEnd()
        return !fired.withLockedValue { $0 }
    }

    /// Puts TLS on this connection (after a CONNECT), verifying `origin.test`'s certificate.
    func startTLS(_ context: NIOSSLContext, serverHostname: String) async throws {
        try await channel.eventLoop.submit { [channel] in
            let handler = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
            try channel.pipeline.syncOperations.addHandler(handler, position: .first)
        }.get()
    }
}

enum Connect {
    static func bootstrap() -> ClientBootstrap {
        ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: true)
    }

    static func wrap(_ channel: Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> {
        channel.eventLoop.makeCompletedFuture {
            try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    /// Connects to 127.0.0.1:`port`, runs the conversation, closes.
    static func tcp<T>(port: Int, _ body: (inout Conversation) async throws -> T) async throws -> T {
        let client = try await bootstrap().connect(host: "127.0.0.1", port: port) { wrap($0) }
        return try await converse(client, body)
    }

    static func unix<T>(path: String, _ body: (inout Conversation) async throws -> T) async throws -> T {
        let client = try await bootstrap().connect(unixDomainSocketPath: path) { wrap($0) }
        return try await converse(client, body)
    }

    static func converse<T>(
        _ client: NIOAsyncChannel<ByteBuffer, ByteBuffer>, _ body: (inout Conversation) async throws -> T
    ) async throws -> T {
        try await client.executeThenClose { inbound, outbound in
            var conversation = Conversation(
                channel: client.channel, iterator: inbound.makeAsyncIterator(), outbound: outbound)
            return try await body(&conversation)
        }
    }
}

extension Conversation {
    /// Sends CONNECT and returns the response head.
    mutating func connect(_ authority: String) async throws -> String {
        try await send("CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n\r\n")
        return try await readHead()
    }

    /// SOCKS5 greeting (no auth) and a CONNECT for a domain; returns the reply code.
    mutating func socksConnect(domain: String, port: Int) async throws -> UInt8 {
        try await send([5, 1, 0])
        let method = try await read(count: 2)
        guard method.getInteger(at: method.readerIndex + 1, as: UInt8.self) == 0 else {
            throw TestTimeout(description: "SOCKS method not accepted")
        }
        try await send(
            [5, 1, 0, 3, UInt8(domain.utf8.count)] + Array(domain.utf8) + [UInt8(port >> 8), UInt8(port & 0xFF)])
        let reply = try await read(count: 4)
        let code = reply.getInteger(at: reply.readerIndex + 1, as: UInt8.self) ?? 0xFF
        let addressType = reply.getInteger(at: reply.readerIndex + 3, as: UInt8.self) ?? 1
        // Skip the bound address and port.
        _ = try await read(count: (addressType == 4 ? 16 : 4) + 2)
        return code
    }
}

extension Connect {
    /// Like `tcp`, with a small receive buffer: the kernel holds little for this client, so a client that reads
    /// slowly makes the gateway's writes back up and its backpressure engage.
    static func tcpSmallBuffer<T>(port: Int, _ body: (inout Conversation) async throws -> T) async throws -> T {
        let client = try await bootstrap()
            .channelOption(.socketOption(.so_rcvbuf), value: 16 * 1024)
            .connect(host: "127.0.0.1", port: port) { wrap($0) }
        return try await converse(client, body)
    }
}

extension Conversation {
    /// Reads through the first `marker`, matching bytes: `read(until:)` searches a String, and binary data behind
    /// the marker can shift where a String search says it ends.
    mutating func read(throughBytes marker: String) async throws -> String {
        let needle = Array(marker.utf8)
        var searched = 0
        while true {
            let view = received.readableBytesView
            if view.count >= needle.count {
                let last = view.count - needle.count
                var offset = max(0, searched - needle.count)
                while offset <= last {
                    let start = view.index(view.startIndex, offsetBy: offset)
                    if view[start..<view.index(start, offsetBy: needle.count)].elementsEqual(needle) {
                        return received.readString(length: offset + needle.count) ?? ""
                    }
                    offset += 1
                }
                searched = view.count
            }
            guard var next = try await iterator.next() else {
                throw TestTimeout(description: "EOF before \(marker.debugDescription)")
            }
            received.writeBuffer(&next)
        }
    }

    /// Reads exactly `count` bytes, pausing `pause` after every read from the socket.
    mutating func read(count: Int, pausing pause: Duration) async throws -> ByteBuffer {
        while received.readableBytes < count {
            guard var next = try await iterator.next() else {
                throw TestTimeout(description: "EOF after \(received.readableBytes) of \(count) bytes")
            }
            received.writeBuffer(&next)
            try await Task.sleep(for: pause)
        }
        return received.readSlice(length: count) ?? ByteBuffer()
    }

    /// Everything until the peer closes, as bytes, pausing `pause` after every read (none by default).
    mutating func readBytesToEnd(pausing pause: Duration = .zero) async throws -> ByteBuffer {
        while var next = try await iterator.next() {
            received.writeBuffer(&next)
            if pause > .zero { try await Task.sleep(for: pause) }
        }
        sawEOF = true
        return received.readSlice(length: received.readableBytes) ?? ByteBuffer()
    }

    /// A chunked body through its last chunk and the (empty) trailer section.
    mutating func readChunkedBody(pausing pause: Duration = .zero) async throws -> ByteBuffer {
        var body = ByteBuffer()
        while true {
            let line = try await read(throughBytes: "\r\n")
            // Not `dropLast(2)`: "\r\n" is a single Character.
            guard let size = Int(line.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) else {
                throw TestTimeout(
                    description: "bad chunk line \(line.prefix(40).debugDescription) after \(body.readableBytes) bytes")
            }
            if size == 0 {
                _ = try await read(throughBytes: "\r\n")
                return body
            }
            var chunk = pause > .zero ? try await read(count: size, pausing: pause) : try await read(count: size)
            body.writeBuffer(&chunk)
            guard String(buffer: try await read(count: 2)) == "\r\n" else {
                throw TestTimeout(description: "chunk not followed by CRLF")
            }
        }
    }
}

/// A blocking socket, for what NIO's client hides: it sends everything, then does not read for a while, so the
/// gateway's answer waits in this side's kernel buffer, where a reset from the gateway would discard it.
enum LazyReader {
    struct Outcome {
        var received: [UInt8]
        /// `errno` of the read or write that failed (ECONNRESET when the gateway reset the connection).
        var failure: Int32?
    }

    static func exchange(port: Int, sending bytes: [UInt8], waiting pause: Duration) async throws -> Outcome {
        try await Task.detached {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ChannelError.operationUnsupported }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            guard connected else { throw ChannelError.connectTimeout(.seconds(0)) }
            var outcome = Outcome(received: [], failure: nil)
            var sent = 0
            while sent < bytes.count {
                let count = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if count <= 0 {
                    outcome.failure = errno
                    break
                }
                sent += count
            }
            try await Task.sleep(for: pause)
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if count < 0 { outcome.failure = errno }
                if count <= 0 { break }
                outcome.received += buffer[..<count]
            }
            return outcome
        }.value
    }
}

/// Keeps what a logger was told at `warning` (or `threshold`) and above, to count what the user's terminal would
/// show.
struct WarningCapture: LogHandler {
    let warnings = NIOLockedValueBox<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug
    var threshold: Logger.Level = .warning

    init(from threshold: Logger.Level = .warning) {
        self.threshold = threshold
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        if event.level >= threshold { warnings.withLockedValue { $0.append(event.message.description) } }
    }
}
