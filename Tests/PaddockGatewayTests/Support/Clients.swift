import Foundation
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
        guard let addresses = answers[name] else { throw ResolutionError(name: name, reason: "not in the test's table") }
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

    static func policy(allow: [String] = [], deny: [String] = [], hosts: [String: String] = [:]) throws -> NetworkPolicy {
        try NetworkPolicy(config: NetworkConfig(allow: allow, deny: deny, hosts: hosts))
    }

    /// Starts a gateway, runs `body`, and always shuts the gateway down.
    static func with<T>(
        allow: [String] = [], deny: [String] = [], hosts: [String: String] = [:],
        resolver: RecordingResolver = RecordingResolver(),
        configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: (GatewayFixture) async throws -> T
    ) async throws -> T {
        var configuration = GatewayConfiguration(tcpHost: "127.0.0.1", tcpPort: 0)
        configure(&configuration)
        let policies = PolicyStore(try policy(allow: allow, deny: deny, hosts: hosts))
        let log = MemoryConnectionLog()
        let gateway = Gateway(configuration: configuration, policies: policies, log: log, resolver: resolver)
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
        try await send([5, 1, 0, 3, UInt8(domain.utf8.count)] + Array(domain.utf8) + [UInt8(port >> 8), UInt8(port & 0xFF)])
        let reply = try await read(count: 4)
        let code = reply.getInteger(at: reply.readerIndex + 1, as: UInt8.self) ?? 0xFF
        let addressType = reply.getInteger(at: reply.readerIndex + 3, as: UInt8.self) ?? 1
        // Skip the bound address and port.
        _ = try await read(count: (addressType == 4 ? 16 : 4) + 2)
        return code
    }
}
