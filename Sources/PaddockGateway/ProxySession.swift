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
            return eventLoop.makeSucceededFuture(
                .refused(.denied(target, decision), decision, resolved: nil, error: nil))
        }
        if let unread = interceptor?.secrets.unreadByRequestRules(target, plain: http) {
            return eventLoop.makeSucceededFuture(.refused(.denied(target, unread), unread, resolved: nil, error: nil))
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
                        .unresolvable(target, "\(error)"), decision, resolved: nil, error: "resolution failed: \(error)"
                    )
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
            return eventLoop.makeSucceededFuture(
                .refused(.denied(target, denial), denial, resolved: address, error: nil))
        }
        return connect(target, decision, allowed[...], on: eventLoop, http: http, lastError: nil)
    }

    /// Tries the allowed addresses in order.
    private func connect(
        _ target: NetworkTarget, _ decision: PolicyDecision, _ addresses: ArraySlice<IPAddress>,
        on eventLoop: EventLoop,
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
