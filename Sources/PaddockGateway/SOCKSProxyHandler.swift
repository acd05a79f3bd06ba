import NIOCore
import NIOSOCKS
import PaddockCore

/// SOCKS5 on top of NIOSOCKS' handshake handler: no authentication, or username/password (RFC 1929) where the
/// listener wants the session's credential; CONNECT only, the target canonicalised and
/// handed to `ProxyDecisionHandler` on the same event loop; its answer becomes a SOCKS reply. Reads are held while the decision is pending.
final class SOCKSProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ClientMessage
    typealias InboundOut = ProxyEvent
    typealias OutboundIn = ProxyCommand
    typealias OutboundOut = ServerMessage

    private enum State: Equatable {
        case greeting
        case authenticating(ByteBuffer)
        case request
        case awaitingDecision
        case established
        case closing
    }

    private var state = State.greeting
    private var pendingRead = false
    /// Nil: no authentication (the unix socket, reachable only through the sandbox's own mount).
    private let credential: ProxyCredential?

    init(credential: ProxyCredential? = nil) {
        self.credential = credential
    }

    /// A SOCKS reply must carry an address; NIOSOCKS cannot encode a unix socket one, so never hand it one.
    private static let zeroAddress: SOCKSAddress =
        (try? SocketAddress(ipAddress: "0.0.0.0", port: 0)).map { .address($0) } ?? .domain("0.0.0.0", port: 0)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // When a closed channel tears its pipeline down, NIOSOCKS hands what it buffered on as a raw ByteBuffer;
        // unwrapping that as a ClientMessage would trap. Nothing read after close matters.
        guard context.channel.isActive, state != .closing else { return }
        switch (state, unwrapInboundIn(data)) {
        case (.greeting, .greeting(let greeting)) where credential != nil:
            guard greeting.methods.contains(.usernamePassword) else {
                context.writeAndFlush(
                    wrapOutboundOut(.selectedAuthenticationMethod(.init(method: .noneAcceptable))), promise: nil)
                invalid(context, "client offers no username/password authentication on the gateway's loopback port")
                return
            }
            state = .authenticating(context.channel.allocator.buffer(capacity: 0))
            context.writeAndFlush(
                wrapOutboundOut(.selectedAuthenticationMethod(.init(method: .usernamePassword))), promise: nil)
            rescan(context)
        case (.authenticating(var received), .authenticationData(var data)):
            received.writeBuffer(&data)
            guard let credential else { return }
            switch SOCKSCredentialVerdict.check(received, credential: credential) {
            case .needMore:
                state = .authenticating(received)
            case .accepted:
                state = .request
                let reply = context.channel.allocator.buffer(bytes: SOCKSCredentialVerdict.reply(accepted: true))
                context.writeAndFlush(wrapOutboundOut(.authenticationData(reply, complete: true)), promise: nil)
            case .wrong:
                let reply = context.channel.allocator.buffer(bytes: SOCKSCredentialVerdict.reply(accepted: false))
                context.writeAndFlush(wrapOutboundOut(.authenticationData(reply, complete: true)), promise: nil)
                invalid(context, "a proxy credential that is not this session's")
            case .malformed(let why):
                invalid(context, "malformed SOCKS authentication: \(why)")
            }
        case (.greeting, .greeting(let greeting)):
            guard greeting.methods.contains(.noneRequired) else {
                context.writeAndFlush(
                    wrapOutboundOut(.selectedAuthenticationMethod(.init(method: .noneAcceptable))), promise: nil)
                invalid(context, "client offers no method without authentication")
                return
            }
            state = .request
            context.writeAndFlush(
                wrapOutboundOut(.selectedAuthenticationMethod(.init(method: .noneRequired))), promise: nil)
            rescan(context)
        case (.request, .request(let request)):
            handleRequest(context, request)
        default:
            invalid(context, "unexpected SOCKS message")
        }
    }

    /// Lets NIOSOCKS look at bytes that arrived behind the message it just parsed.
    private func rescan(_ context: ChannelHandlerContext) {
        if let detector = try? context.pipeline.syncOperations.context(handlerType: ProtocolDetector.self),
            let handler = detector.handler as? ProtocolDetector
        {
            handler.rescan(context: detector)
        }
    }

    private func handleRequest(_ context: ChannelHandlerContext, _ request: SOCKSRequest) {
        guard request.command == .connect else {
            reply(context, .commandUnsupported)
            invalid(context, "SOCKS command \(request.command.value) is not supported; only CONNECT is")
            return
        }
        let target: NetworkTarget
        do {
            switch request.addressType {
            case .domain(let host, let port):
                guard (1...65535).contains(port) else { throw TargetError.badPort(String(port)) }
                target = NetworkTarget(host: try NetworkHost(parsing: host), port: port)
            case .address(let address):
                guard let text = address.ipAddress, let ip = IPAddress(text), let port = address.port,
                    (1...65535).contains(port)
                else { throw TargetError.malformedAuthority("\(address)") }
                target = NetworkTarget(host: .ip(ip), port: port)
            }
        } catch {
            reply(context, .notAllowed)
            invalid(context, "\(error)", request: "\(request.addressType)")
            return
        }
        state = .awaitingDecision
        context.pipeline.syncOperations.completeHandshake()
        context.fireChannelRead(wrapInboundOut(.tunnel(.socks5, target)))
    }

    private func reply(_ context: ChannelHandlerContext, _ reply: SOCKSServerReply) {
        context.writeAndFlush(
            wrapOutboundOut(.response(SOCKSResponse(reply: reply, boundAddress: Self.zeroAddress))), promise: nil)
    }

    private func invalid(_ context: ChannelHandlerContext, _ reason: String, request: String = "SOCKS handshake") {
        guard state != .closing else { return }
        state = .closing
        context.fireChannelRead(wrapInboundOut(.invalid(.socks5, request: request, reason: reason)))
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // NIOSOCKS reports protocol violations (bad version, bad address type) here.
        invalid(context, "malformed SOCKS message: \(error)")
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        guard case .awaitingDecision = state else {
            if case .startTunnel(let upstream, let completion) = command {
                upstream.close(promise: nil)
                completion.finish(TunnelBytes(up: 0, down: 0))
            }
            promise?.succeed(())
            return
        }
        switch command {
        case .refuse(let refusal):
            state = .closing
            reply(context, Self.reply(for: refusal))
            context.close(promise: nil)
            promise?.succeed(())
        case .startTunnel(let upstream, let completion):
            state = .established
            let bound: SOCKSAddress =
                if let local = upstream.localAddress, local.protocol == .inet || local.protocol == .inet6 {
                    .address(local)
                } else {
                    Self.zeroAddress
                }
            context.writeAndFlush(
                wrapOutboundOut(.response(SOCKSResponse(reply: .succeeded, boundAddress: bound))), promise: nil)
            do {
                let sync = context.pipeline.syncOperations
                try TunnelSplice.splice(
                    client: context, upstream: upstream, completion: completion,
                    thenRemoving: [
                        try sync.context(handlerType: SOCKSServerHandshakeHandler.self),
                        try sync.context(handlerType: ProtocolDetector.self),
                    ])
                promise?.succeed(())
            } catch {
                upstream.close(promise: nil)
                completion.finish(TunnelBytes(up: 0, down: 0))
                context.close(promise: nil)
                promise?.fail(error)
            }
        case .forward(let upstream):
            // Never sent for SOCKS; close rather than guess.
            upstream.close(promise: nil)
            context.close(promise: nil)
            promise?.succeed(())
        }
    }

    func read(context: ChannelHandlerContext) {
        if case .awaitingDecision = state {
            pendingRead = true
        } else {
            context.read()
        }
    }

    static func reply(for refusal: Refusal) -> SOCKSServerReply {
        switch refusal {
        case .denied: return .notAllowed  // "connection not allowed by ruleset"
        case .badRequest: return .serverFailure
        case .unresolvable: return .hostUnreachable
        case .connectFailed: return .refused
        case .connectTimedOut: return .hostUnreachable
        case .overloaded: return .serverFailure
        case .uriTooLong, .headersTooLarge: return .serverFailure  // HTTP only
        case .notSupported: return .commandUnsupported
        }
    }
}
