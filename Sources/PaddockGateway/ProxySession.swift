#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PaddockCore

/// The decisions for one client connection, in async code: the handlers hand over requests, this decides with the
/// current policy, resolves, connects and answers, and writes the log record when the exchange is over.
struct ProxySession: Sendable {
    let policies: PolicyStore
    let resolver: any NameResolver
    let recorder: GatewayRecorder
    let connectTimeout: TimeAmount
    let logger: Logger

    private struct HTTPInFlight {
        let target: NetworkTarget
        let decision: PolicyDecision
        let resolved: IPAddress
        let started: NIODeadline
        let wallClock: String
    }

    func serve(_ connection: NIOAsyncChannel<ProxyEvent, ProxyCommand>) async {
        let channel = connection.channel
        var upstream: (target: NetworkTarget, channel: Channel, address: IPAddress)?
        var inFlight: HTTPInFlight?
        do {
            try await connection.executeThenClose { inbound, outbound in
                for try await event in inbound {
                    switch event {
                    case .tunnel(let proto, let target):
                        try await tunnel(proto, target, channel: channel, outbound: outbound)
                        return
                    case .forward(let target, _):
                        let started = NIODeadline.now()
                        let wallClock = GatewayRecorder.now()
                        let policy = policies.current
                        if let current = upstream, current.target == target, current.channel.isActive {
                            // Reusing a connection still needs today's policy to agree, address included.
                            let decision = policy.decide(target, resolvedTo: current.address)
                            if decision.isAllowed {
                                inFlight = HTTPInFlight(
                                    target: target, decision: decision, resolved: current.address, started: started,
                                    wallClock: wallClock)
                                try await outbound.write(.forward(upstream: current.channel))
                                continue
                            }
                        }
                        upstream?.channel.close(promise: nil)
                        upstream = nil
                        switch await dial(target, policy: policy, on: channel.eventLoop, http: true) {
                        case .refused(let refusal, let decision, let resolved, let error):
                            recorder.record(
                                wallClock, .http, target, decision: decision, resolved: resolved, started: started,
                                error: error)
                            try await outbound.write(.refuse(refusal))
                        case .connected(let upstreamChannel, let address, let decision):
                            upstream = (target, upstreamChannel, address)
                            inFlight = HTTPInFlight(
                                target: target, decision: decision, resolved: address, started: started,
                                wallClock: wallClock)
                            try await outbound.write(.forward(upstream: upstreamChannel))
                        }
                    case .exchangeFinished(let up, let down, let reusable):
                        if let done = inFlight {
                            recorder.record(
                                done.wallClock, .http, done.target, decision: done.decision, resolved: done.resolved,
                                started: done.started, bytesUp: up, bytesDown: down)
                        }
                        inFlight = nil
                        if !reusable {
                            upstream?.channel.close(promise: nil)
                            upstream = nil
                        }
                    case .invalid(let proto, let request, let reason):
                        recorder.recordInvalid(proto, request: request, reason: reason)
                    }
                }
            }
        } catch {
            logger.debug("connection ended: \(error)")
        }
        if let done = inFlight {
            recorder.record(
                done.wallClock, .http, done.target, decision: done.decision, resolved: done.resolved,
                started: done.started, error: "the client left before the response was complete")
        }
        upstream?.channel.close(promise: nil)
    }

    private func tunnel(
        _ proto: ProxyProtocol, _ target: NetworkTarget, channel: Channel,
        outbound: NIOAsyncChannelOutboundWriter<ProxyCommand>
    ) async throws {
        let started = NIODeadline.now()
        let wallClock = GatewayRecorder.now()
        let policy = policies.current
        switch await dial(target, policy: policy, on: channel.eventLoop, http: false) {
        case .refused(let refusal, let decision, let resolved, let error):
            recorder.record(wallClock, proto, target, decision: decision, resolved: resolved, started: started, error: error)
            try await outbound.write(.refuse(refusal))
            // The handler answers and closes; wait for that rather than cutting the answer off.
            try await channel.closeFuture.get()
        case .connected(let upstream, let address, let decision):
            let completion = TunnelCompletion(eventLoop: channel.eventLoop)
            // Whatever happens to the hand-over, the tunnel ends when both sides are closed.
            channel.closeFuture.whenComplete { _ in upstream.close(promise: nil) }
            channel.closeFuture.and(upstream.closeFuture).whenComplete { _ in
                channel.eventLoop.execute { completion.finish(TunnelBytes(up: 0, down: 0)) }
            }
            do {
                try await outbound.write(.startTunnel(upstream: upstream, completion: completion))
            } catch {
                upstream.close(promise: nil)
            }
            let bytes = try await completion.futureResult.get()
            recorder.record(
                wallClock, proto, target, decision: decision, resolved: address, started: started,
                bytesUp: bytes.up, bytesDown: bytes.down)
        }
    }

    enum DialOutcome {
        case connected(Channel, IPAddress, PolicyDecision)
        case refused(Refusal, PolicyDecision?, resolved: IPAddress?, error: String?)
    }

    /// Decide, resolve (only names that passed), check every address, connect to the first that works.
    func dial(_ target: NetworkTarget, policy: NetworkPolicy, on eventLoop: EventLoop, http: Bool) async
        -> DialOutcome
    {
        let decision = policy.decide(target)
        guard decision.isAllowed else {
            return .refused(.denied(target, decision), decision, resolved: nil, error: nil)
        }
        var candidates: [IPAddress]
        switch target.host {
        case .ip(let address):
            candidates = [address]
        case .name(let name):
            if let mapped = policy.override(for: target.host) {
                candidates = [mapped]
            } else {
                do {
                    candidates = try await resolver.resolve(name)
                } catch {
                    return .refused(
                        .unresolvable(target, "\(error)"), decision, resolved: nil, error: "resolution failed: \(error)")
                }
            }
        }
        var allowed: [IPAddress] = []
        var firstDenial: (IPAddress, PolicyDecision)?
        for address in candidates {
            let verdict = policy.decide(target, resolvedTo: address)
            if verdict.isAllowed {
                allowed.append(address)
            } else if firstDenial == nil {
                firstDenial = (address, verdict)
            }
        }
        if allowed.isEmpty, let (address, denial) = firstDenial {
            return .refused(.denied(target, denial), denial, resolved: address, error: nil)
        }
        var lastError: (any Error)?
        for address in allowed {
            do {
                let channel = try await connect(to: address, port: target.port, on: eventLoop, http: http)
                return .connected(channel, address, decision)
            } catch {
                lastError = error
            }
        }
        let reason = lastError.map { "\($0)" } ?? "no address"
        if let error = lastError as? ChannelError, case .connectTimeout = error {
            return .refused(.connectTimedOut(target), decision, resolved: allowed.last, error: "connect timed out")
        }
        return .refused(.connectFailed(target, reason), decision, resolved: allowed.last, error: "connect failed: \(reason)")
    }

    private func connect(to address: IPAddress, port: Int, on eventLoop: EventLoop, http: Bool) async throws
        -> Channel
    {
        let socketAddress = try SocketAddress(packedIPAddress: ByteBuffer(bytes: address.bytes), port: port)
        return try await ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.autoRead, value: false)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.recvAllocator, value: GatewayTuning.recvAllocator)
            .channelInitializer { channel in
                guard http else { return channel.eventLoop.makeSucceededVoidFuture() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(UpstreamHTTPHandler())
                }
            }
            .connect(to: socketAddress).get()
    }
}

enum GatewayTuning {
    /// Large reads for bulk tunnels; buffers live only while in flight, so idle tunnels hold none.
    static let recvAllocator = AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16 * 1024, maximum: 256 * 1024)
}

/// Writes log records and keeps the running summary.
final class GatewayRecorder: Sendable {
    private let sink: any ConnectionLogSink
    private let summaryBox = NIOLockedValueBox(ConnectionSummary())

    init(sink: any ConnectionLogSink) {
        self.sink = sink
    }

    var summary: ConnectionSummary { summaryBox.withLockedValue { $0 } }

    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return ConnectionRecord.timestamp(epochNanoseconds: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }

    func record(_ record: ConnectionRecord) {
        summaryBox.withLockedValue { $0.add(record) }
        sink.record(record)
    }

    func record(
        _ wallClock: String, _ proto: ProxyProtocol, _ target: NetworkTarget, decision: PolicyDecision?,
        resolved: IPAddress?, started: NIODeadline, bytesUp: UInt64 = 0, bytesDown: UInt64 = 0, error: String? = nil
    ) {
        let elapsed = NIODeadline.now() - started
        record(
            ConnectionRecord(
                time: wallClock, protocol: proto.rawValue, host: target.host.description, port: target.port,
                decision: decision?.isAllowed == true ? .allow : .deny, rule: decision?.ruleDescription ?? "default",
                reason: decision?.isAllowed == true ? nil : decision?.reason, resolved: resolved?.description,
                bytesUp: bytesUp, bytesDown: bytesDown, durationMs: Double(elapsed.nanoseconds) / 1_000_000,
                error: error))
    }

    func recordInvalid(_ proto: ProxyProtocol?, request: String, reason: String) {
        record(
            ConnectionRecord(
                time: Self.now(), protocol: proto?.rawValue ?? "unknown", host: String(request.prefix(256)), port: nil,
                decision: .invalid, rule: "invalid", reason: reason))
    }
}
