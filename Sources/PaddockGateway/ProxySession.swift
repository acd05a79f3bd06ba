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

/// How a connection's requests are decided: the current policy, resolution (only for names that passed), the
/// address check, the upstream connect. Shared by all connections; every answer is a future on the client's own
/// event loop.
///
/// The decisions run on the event loop rather than in a Swift task per connection: on a two-core machine the
/// thread hops between the loop and the task pool cost more than everything else a CONNECT needs, and halved the
/// setup rate (see docs/benchmarks.md). Only a real DNS lookup leaves the loop, on the resolver's own threads.
struct ProxySession: Sendable {
    let policies: PolicyStore
    let resolver: any NameResolver
    let recorder: GatewayRecorder
    let connectTimeout: TimeAmount
    let logger: Logger
    /// Terminates TLS for hosts with credential or request rules; nil when there are none.
    var interceptor: Interceptor? = nil

    enum DialOutcome {
        case connected(Channel, IPAddress, PolicyDecision)
        case refused(Refusal, PolicyDecision?, resolved: IPAddress?, error: String?)
    }

    /// Decide, resolve (only names that passed), check every address, connect to the first that works.
    func dial(_ target: NetworkTarget, policy: NetworkPolicy, on eventLoop: EventLoop, http: Bool)
        -> EventLoopFuture<DialOutcome>
    {
        let decision = policy.decide(target)
        guard decision.isAllowed else {
            return eventLoop.makeSucceededFuture(.refused(.denied(target, decision), decision, resolved: nil, error: nil))
        }
        switch target.host {
        case .ip(let address):
            // No resolution: decide and connect without a future per step.
            return connectChecked(target, decision, [address], policy: policy, on: eventLoop, http: http)
        case .name(let name):
            if let mapped = policy.override(for: target.host) {
                return connectChecked(target, decision, [mapped], policy: policy, on: eventLoop, http: http)
            }
            let resolver = self.resolver
            return eventLoop.makeFutureWithTask { try await resolver.resolve(name) }
                .flatMap { addresses in
                    connectChecked(target, decision, addresses, policy: policy, on: eventLoop, http: http)
                }
                .flatMapErrorThrowing { error in
                    .refused(
                        .unresolvable(target, "\(error)"), decision, resolved: nil, error: "resolution failed: \(error)")
                }
        }
    }

    /// A fresh upstream for an intercepted host whose first connection is gone, decided by today's policy.
    func redial(_ target: NetworkTarget, on eventLoop: EventLoop) -> EventLoopFuture<Channel> {
        dial(target, policy: policies.current, on: eventLoop, http: false).flatMapThrowing { outcome in
            switch outcome {
            case .connected(let channel, _, _):
                return channel
            case .refused(_, let decision, _, let error):
                throw InterceptionRefused(reason: error ?? decision?.reason ?? "refused by the network policy")
            }
        }
    }

    /// Checks every address against the policy (restricted ranges, CIDR rules), then connects to the allowed ones.
    private func connectChecked(
        _ target: NetworkTarget, _ decision: PolicyDecision, _ addresses: [IPAddress], policy: NetworkPolicy,
        on eventLoop: EventLoop, http: Bool
    ) -> EventLoopFuture<DialOutcome> {
        var allowed: [IPAddress] = []
        var firstDenial: (IPAddress, PolicyDecision)?
        for address in addresses {
            let verdict = policy.decide(target, resolvedTo: address)
            if verdict.isAllowed {
                allowed.append(address)
            } else if firstDenial == nil {
                firstDenial = (address, verdict)
            }
        }
        if allowed.isEmpty, let (address, denial) = firstDenial {
            return eventLoop.makeSucceededFuture(.refused(.denied(target, denial), denial, resolved: address, error: nil))
        }
        return connect(target, decision, allowed[...], on: eventLoop, http: http, lastError: nil)
    }

    /// Tries the allowed addresses in order.
    private func connect(
        _ target: NetworkTarget, _ decision: PolicyDecision, _ addresses: ArraySlice<IPAddress>, on eventLoop: EventLoop,
        http: Bool, lastError: (any Error)?
    ) -> EventLoopFuture<DialOutcome> {
        guard let address = addresses.first else {
            let reason = lastError.map { "\($0)" } ?? "no address"
            if let error = lastError as? ChannelError, case .connectTimeout = error {
                return eventLoop.makeSucceededFuture(
                    .refused(.connectTimedOut(target), decision, resolved: nil, error: "connect timed out"))
            }
            return eventLoop.makeSucceededFuture(
                .refused(.connectFailed(target, reason), decision, resolved: nil, error: "connect failed: \(reason)"))
        }
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress(packedIPAddress: ByteBuffer(bytes: address.bytes), port: target.port)
        } catch {
            return connect(target, decision, addresses.dropFirst(), on: eventLoop, http: http, lastError: error)
        }
        return ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Set directly rather than as bootstrap options, which cost a future per option and connection.
                    try GatewayTuning.configureUpstream(channel)
                    if http {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(UpstreamHTTPHandler())
                    }
                }
            }
            .connect(to: socketAddress)
            .map { channel in DialOutcome.connected(channel, address, decision) }
            .flatMapError { error in
                connect(target, decision, addresses.dropFirst(), on: eventLoop, http: http, lastError: error)
            }
    }
}

struct InterceptionRefused: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}

/// The last handler of a client connection: takes the requests the protocol handlers read, has `ProxySession`
/// decide and connect, answers with a `ProxyCommand`, and writes the log record when each exchange is over.
final class ProxyDecisionHandler: ChannelDuplexHandler {
    typealias InboundIn = ProxyEvent
    typealias OutboundIn = Never
    typealias OutboundOut = ProxyCommand

    private struct HTTPInFlight {
        let target: NetworkTarget
        let decision: PolicyDecision
        let resolved: IPAddress
        let started: NIODeadline
        let wallClock: String
    }

    private let session: ProxySession
    private var context: ChannelHandlerContext?
    private var upstream: (target: NetworkTarget, channel: Channel, address: IPAddress)?
    private var inFlight: HTTPInFlight?

    init(session: ProxySession) {
        self.session = session
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .tunnel(let proto, let target):
            tunnel(context, proto, target)
        case .forward(let target, _):
            forward(context, target)
        case .exchangeFinished(let up, let down, let reusable, let error):
            if let done = inFlight {
                session.recorder.record(
                    done.wallClock, .http, done.target, decision: done.decision, resolved: done.resolved,
                    started: done.started, bytesUp: up, bytesDown: down, error: error)
            }
            inFlight = nil
            if !reusable {
                upstream?.channel.close(promise: nil)
                upstream = nil
            }
        case .invalid(let proto, let request, let reason):
            session.recorder.recordInvalid(proto, request: request, reason: reason)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let done = inFlight {
            session.recorder.record(
                done.wallClock, .http, done.target, decision: done.decision, resolved: done.resolved,
                started: done.started, error: "the client left before the response was complete")
            inFlight = nil
        }
        upstream?.channel.close(promise: nil)
        upstream = nil
        context.fireChannelInactive()
    }

    private func tunnel(_ context: ChannelHandlerContext, _ proto: ProxyProtocol, _ target: NetworkTarget) {
        let started = NIODeadline.now()
        let wallClock = GatewayRecorder.now()
        let channel = context.channel
        let recorder = session.recorder
        session.dial(target, policy: session.policies.current, on: channel.eventLoop, http: false)
            .assumeIsolated().whenSuccess { [self] outcome in
                switch outcome {
                case .refused(let refusal, let decision, let resolved, let error):
                    recorder.record(
                        wallClock, proto, target, decision: decision, resolved: resolved, started: started, error: error)
                    answer(.refuse(refusal))
                case .connected(let upstream, let address, let decision):
                    guard let interceptor = session.interceptor, let host = interceptor.intercepted(target) else {
                        startTunnel(proto, target, upstream, address, decision, started: started, wallClock: wallClock, client: channel)
                        return
                    }
                    // The tunnel goes to the interception instead, which relays to this upstream.
                    let session = self.session
                    let loop = channel.eventLoop
                    interceptor.attach(
                        upstream: upstream, target: target, host: host, recorder: recorder, logger: session.logger,
                        redial: { session.redial(target, on: loop) }
                    ).assumeIsolated().whenComplete { [self] result in
                        switch result {
                        case .success(let local):
                            startTunnel(proto, target, local, address, decision, started: started, wallClock: wallClock, client: channel)
                        case .failure(let error):
                            recorder.record(
                                wallClock, proto, target, decision: decision, resolved: address, started: started,
                                error: "interception failed: \(error)")
                            answer(.refuse(.connectFailed(target, "the gateway could not intercept: \(error)")))
                        }
                    }
                }
            }
    }

    private func startTunnel(
        _ proto: ProxyProtocol, _ target: NetworkTarget, _ upstream: Channel, _ address: IPAddress,
        _ decision: PolicyDecision, started: NIODeadline, wallClock: String, client channel: Channel
    ) {
        let recorder = session.recorder
        let completion = TunnelCompletion(eventLoop: channel.eventLoop)
        completion.futureResult.whenSuccess { bytes in
            recorder.record(
                wallClock, proto, target, decision: decision, resolved: address, started: started,
                bytesUp: bytes.up, bytesDown: bytes.down)
        }
        // Whatever happens to the hand-over, the tunnel ends when both sides are closed (and the glue's
        // count, if it got that far, has been reported first: it finishes on handler removal).
        channel.closeFuture.whenComplete { _ in
            upstream.close(promise: nil)
            upstream.closeFuture.whenComplete { _ in completion.finish(TunnelBytes(up: 0, down: 0)) }
        }
        answer(.startTunnel(upstream: upstream, completion: completion))
    }

    private func forward(_ context: ChannelHandlerContext, _ target: NetworkTarget) {
        let started = NIODeadline.now()
        let wallClock = GatewayRecorder.now()
        let policy = session.policies.current
        if let current = upstream, current.target == target, current.channel.isActive {
            // Reusing a connection still needs today's policy to agree, address included.
            let decision = policy.decide(target, resolvedTo: current.address)
            if decision.isAllowed {
                inFlight = HTTPInFlight(
                    target: target, decision: decision, resolved: current.address, started: started,
                    wallClock: wallClock)
                answer(.forward(upstream: current.channel))
                return
            }
        }
        upstream?.channel.close(promise: nil)
        upstream = nil
        let recorder = session.recorder
        session.dial(target, policy: policy, on: context.eventLoop, http: true)
            .assumeIsolated().whenSuccess { [self] outcome in
                switch outcome {
                case .refused(let refusal, let decision, let resolved, let error):
                    recorder.record(
                        wallClock, .http, target, decision: decision, resolved: resolved, started: started, error: error)
                    answer(.refuse(refusal))
                case .connected(let channel, let address, let decision):
                    guard self.context != nil else {
                        channel.close(promise: nil)
                        return
                    }
                    upstream = (target, channel, address)
                    inFlight = HTTPInFlight(
                        target: target, decision: decision, resolved: address, started: started, wallClock: wallClock)
                    answer(.forward(upstream: channel))
                }
            }
    }

    /// Sends the command to the protocol handler; if the client is already gone, releases what it carries.
    private func answer(_ command: ProxyCommand) {
        guard let context, context.channel.isActive else {
            command.release()
            return
        }
        context.writeAndFlush(wrapOutboundOut(command), promise: nil)
    }
}

enum GatewayTuning {
    /// Large reads for bulk tunnels; buffers live only while in flight, so idle tunnels hold none.
    static let recvAllocator = AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16 * 1024, maximum: 256 * 1024)

    /// Options of an accepted client connection. `tcp` adds no-delay (unix sockets have no Nagle).
    static func configureClient(_ channel: Channel, tcp: Bool) throws {
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try options.setOption(.maxMessagesPerRead, value: 16)
        try options.setOption(.recvAllocator, value: recvAllocator)
        if tcp { try options.setOption(.tcpOption(.tcp_nodelay), value: 1) }
    }

    /// Options of an upstream connection, before it connects. Reads start only once the splice is in place.
    static func configureUpstream(_ channel: Channel) throws {
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try options.setOption(.autoRead, value: false)
        try options.setOption(.tcpOption(.tcp_nodelay), value: 1)
        try options.setOption(.recvAllocator, value: recvAllocator)
    }
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
