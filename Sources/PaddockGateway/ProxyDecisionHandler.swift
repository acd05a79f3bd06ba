import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
                        wallClock, proto, target, decision: decision, resolved: resolved, started: started, error: error
                    )
                    answer(.refuse(refusal))
                case .connected(let upstream, let address, let decision):
                    guard let interceptor = session.interceptor, let host = interceptor.intercepted(target) else {
                        startTunnel(
                            proto, target, upstream, address, decision, started: started, wallClock: wallClock,
                            client: channel)
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
                            startTunnel(
                                proto, target, local, address, decision, started: started, wallClock: wallClock,
                                client: channel)
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
                        wallClock, .http, target, decision: decision, resolved: resolved, started: started, error: error
                    )
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
