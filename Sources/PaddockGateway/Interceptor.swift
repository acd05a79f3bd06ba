import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Terminates TLS for hosts with credential or request rules. The tunnel the protocol handlers splice gets, in
/// place of the upstream, one end of a socket pair; on the other end the gateway is the origin (a leaf of the
/// session authority), reads each request, checks it against the request rules, puts the secret in place of the
/// placeholder when the request is for the rule's own host, and sends it on over real TLS, verified against the
/// system's roots, to the connection `ProxySession` dialled. The protocol handlers and the tunnel's own log line
/// stay exactly as for any other tunnel.
struct Interceptor: Sendable {
    let secrets: SessionSecrets
    /// Whether this session already warned of a stray placeholder: once on the user's terminal (the agent could
    /// flood it during a full-screen session), every time in the connection record.
    let strayWarned = NIOLockedValueBox(false)
    private let serverContexts: [String: NIOSSLContext]
    private let clientContext: NIOSSLContext

    init(_ interception: Interception) throws {
        secrets = interception.secrets
        var contexts: [String: NIOSSLContext] = [:]
        for host in Interception.hosts(interception.secrets) {
            contexts[host] = try interception.authority.serverContext(for: host)
        }
        serverContexts = contexts
        var client = TLSConfiguration.makeClientConfiguration()
        client.trustRoots = interception.upstreamTrustRoots
        client.additionalTrustRoots = interception.additionalUpstreamRoots
        client.applicationProtocols = ["http/1.1"]
        client.minimumTLSVersion = .tlsv12
        clientContext = try NIOSSLContext(configuration: client)
    }

    /// The host name when `target` is intercepted.
    func intercepted(_ target: NetworkTarget) -> String? {
        guard case .name(let name) = target.host, secrets.intercepts(host: name, port: target.port) else { return nil }
        return name
    }

    /// Puts the interception between the tunnel and `upstream` (connected, not yet reading). The result is the
    /// channel the tunnel splices to instead. `redial` connects a fresh upstream when the first one is gone.
    func attach(
        upstream: Channel, target: NetworkTarget, host: String, recorder: GatewayRecorder, logger: Logger,
        redial: @escaping @Sendable () -> EventLoopFuture<Channel>
    ) -> EventLoopFuture<Channel> {
        let loop = upstream.eventLoop
        var fds: [Int32] = [-1, -1]
        #if canImport(Glibc)
            let kind = Int32(SOCK_STREAM.rawValue)
        #else
            let kind = SOCK_STREAM
        #endif
        guard socketpair(AF_UNIX, kind, 0, &fds) == 0 else {
            return loop.makeFailedFuture(IOError(errnoCode: errno, reason: "socketpair"))
        }
        guard let serverContext = serverContexts[host] else {
            close(fds[0])
            close(fds[1])
            return loop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        let clientContext = self.clientContext
        let handler = NIOLoopBound(
            InterceptHandler(
                secrets: secrets, target: target, host: host, recorder: recorder, logger: logger,
                strayWarned: strayWarned,
                connect: { channel in
                    try Self.prepareUpstream(channel, host: host, context: clientContext)
                },
                redial: redial),
            eventLoop: loop)
        let inner = ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLServerHandler(context: serverContext))
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                    try sync.addHandler(handler.value)
                }
            }
            .withConnectedSocket(fds[1])
        let outer = ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try GatewayTuning.configureUpstream(channel) }
            }
            .withConnectedSocket(fds[0])
        return inner.and(outer).flatMapThrowing { innerChannel, outerChannel in
            // Closing either side of the interception ends it all.
            innerChannel.closeFuture.whenComplete { _ in outerChannel.close(promise: nil) }
            outerChannel.closeFuture.whenComplete { _ in innerChannel.close(promise: nil) }
            try handler.value.adopt(upstream)
            return outerChannel
        }.flatMapErrorThrowing { error in
            upstream.close(promise: nil)
            throw error
        }
    }

    /// Real TLS to the real host, its name as SNI and as what the certificate must name, then HTTP/1.1.
    static func prepareUpstream(_ channel: Channel, host: String, context: NIOSSLContext) throws {
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(NIOSSLClientHandler(context: context, serverHostname: host))
        try sync.addHTTPClientHandlers()
    }
}

/// The origin side of one intercepted connection, as seen by the sandbox's client: one request at a time (the
/// server pipeline holds pipelined ones back), each decided, rewritten and relayed, each logged.
final class InterceptHandler: ChannelDuplexHandler, UpstreamResponseSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = Never
    typealias OutboundOut = HTTPServerResponsePart

    private struct Exchange {
        var method: String
        var path: String
        var started: NIODeadline
        var wallClock: String
        var credentialAdded: Bool
        var warning: String?
        var bytesUp: UInt64 = 0
        var bytesDown: UInt64 = 0
        var status: Int?
        /// The response head went to the client: a failure now can only cut it short.
        var answered = false
    }

    private let secrets: SessionSecrets
    private let strayWarned: NIOLockedValueBox<Bool>
    private let target: NetworkTarget
    private let host: String
    private let rules: [RequestRule]
    private let recorder: GatewayRecorder
    private let logger: Logger
    private let connect: (Channel) throws -> Void
    private let redial: @Sendable () -> EventLoopFuture<Channel>

    private var context: ChannelHandlerContext?
    private var upstream: Channel?
    private var relay: UpstreamHTTPHandler?
    /// Why the upstream connection failed, for the next request's 502.
    private var upstreamFailure: String?
    private var dialling = false
    /// Request parts read while no upstream is ready.
    private var queued: [HTTPClientRequestPart] = []
    private var exchange: Exchange?
    /// A refused request's remaining parts are dropped.
    private var discarding = false
    private var pendingRead = false

    init(
        secrets: SessionSecrets, target: NetworkTarget, host: String, recorder: GatewayRecorder, logger: Logger,
        strayWarned: NIOLockedValueBox<Bool>, connect: @escaping (Channel) throws -> Void,
        redial: @escaping @Sendable () -> EventLoopFuture<Channel>
    ) {
        self.secrets = secrets
        self.strayWarned = strayWarned
        self.target = target
        self.host = host
        self.rules = secrets.requestRules(host: host, port: target.port)
        self.recorder = recorder
        self.logger = logger
        self.connect = connect
        self.redial = redial
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Takes a connected upstream: TLS and HTTP on it, then reads.
    func adopt(_ channel: Channel) throws {
        try connect(channel)
        guard let client = context?.channel else { throw ChannelError.ioOnClosedChannel }
        let relay = UpstreamHTTPHandler()
        relay.attach(client: self, clientChannel: client)
        try channel.pipeline.syncOperations.addHandler(relay)
        self.upstream = channel
        self.relay = relay
        upstreamFailure = nil
        channel.closeFuture.assumeIsolatedUnsafeUnchecked().whenComplete { [weak self] _ in
            self?.upstreamGone(channel)
        }
        try channel.syncOptions?.setOption(.autoRead, value: true)
        flushQueued()
    }

    // MARK: from the sandbox's client

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            begin(head, context: context)
        case .body(let body):
            guard !discarding else { return }
            exchange?.bytesUp += UInt64(body.readableBytes)
            if exchange?.warning == nil, Self.holdsPlaceholder(body) { warnStray() }
            send(.body(.byteBuffer(body)))
        case .end(let trailers):
            if discarding {
                discarding = false
                return
            }
            send(.end(trailers), flush: true)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if exchange != nil { finish(error: "the client left before the response was complete") }
        upstream?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A client that does not trust the session's authority fails its handshake here: nothing was read from it,
        // nothing was sent anywhere.
        logger.debug("intercepted connection to \(target) failed: \(error)")
        context.close(promise: nil)
    }

    func read(context: ChannelHandlerContext) {
        if upstream?.isWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func begin(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = String(head.uri.prefix { $0 != "?" && $0 != "#" })
        var current = Exchange(
            method: head.method.rawValue, path: path, started: .now(), wallClock: GatewayRecorder.now(),
            credentialAdded: false)
        exchange = current
        let hosts = head.headers["host"]
        guard hosts.count == 1, Self.sameHost(hosts[0], host: host, port: target.port) else {
            refuse(
                .misdirectedRequest,
                "the request names the host \(SafeText.quoted(hosts.joined(separator: ", "))), but this connection is to \(target); send each host's requests on its own connection"
            )
            return
        }
        guard head.uri.hasPrefix("/"), !head.uri.contains("#") else {
            refuse(.badRequest, "the request target must be a path starting with / and without a `#` fragment")
            return
        }
        if head.headers.contains(name: "upgrade") {
            refuse(
                .notImplemented,
                "protocol upgrades (WebSocket) are not supported on \(host), whose traffic the gateway reads")
            return
        }
        switch RequestCheck.decide(
            method: head.method.rawValue, target: head.uri, headers: head.headers.map { ($0.name, $0.value) },
            rules: rules)
        {
        case .allow:
            break
        case .deny(let rule):
            refuse(.forbidden, nil, rule: rule)
            return
        case .invalid(let reason):
            refuse(.badRequest, reason)
            return
        }
        let framing: RequestFraming
        do {
            framing = try RequestFraming.of(head)
        } catch {
            refuse(.badRequest, error.description)
            return
        }
        var fields = head.headers.map { (name: $0.name, value: $0.value) }
        let rewrite = secrets.rewrite(host: host, port: target.port, target: head.uri, headers: &fields)
        current.credentialAdded = rewrite.credentialAdded
        exchange = current
        if rewrite.strayPlaceholder { warnStray() }
        var forwarded = head
        forwarded.headers = HTTPHeaders(fields.map { ($0.name, $0.value) })
        framing.apply(to: &forwarded)
        send(.head(forwarded))
    }

    /// A placeholder where it is not substituted (another header, the target, the body): passed on as sent, and
    /// recorded once per request, since the agent may be trying to carry it elsewhere; the terminal hears of it once
    /// per session.
    private func warnStray() {
        guard let current = exchange else { return }
        let warning = "a credential placeholder was sent where it is not substituted, and was passed on as sent"
        exchange?.warning = warning
        let first = strayWarned.withLockedValue { warned in
            defer { warned = true }
            return !warned
        }
        let line: Logger.Message =
            "paddock gateway: \(warning) (\(current.method) \(host)\(SafeText.quoted(current.path)))"
        if first {
            logger.warning("\(line); further ones go to `paddock net log` only")
        } else {
            logger.debug(line)
        }
    }

    private static let placeholderBytes = Array(SessionSecrets.placeholderPrefix.utf8)

    /// Whether the chunk holds the placeholder's prefix (one split across chunks goes unseen: a warning, not a defence).
    static func holdsPlaceholder(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            placeholderBytes.withUnsafeBytes { needle in
                guard let base = bytes.baseAddress, let pattern = needle.baseAddress, bytes.count >= needle.count
                else { return false }
                let last = bytes.count - needle.count
                var index = 0
                while index <= last, let hit = memchr(base + index, Int32(placeholderBytes[0]), last - index + 1) {
                    index = base.distance(to: UnsafeRawPointer(hit))
                    if memcmp(base + index, pattern, needle.count) == 0 { return true }
                    index += 1
                }
                return false
            }
        }
    }

    static func sameHost(_ value: String, host: String, port: Int) -> Bool {
        let lower = value.lowercased()
        return lower == host || lower == "\(host):\(port)"
    }

    /// Answers the request here (nothing of it went upstream), then closes: its body, if any, is not read.
    private func refuse(_ status: HTTPResponseStatus, _ reason: String?, rule: String? = nil) {
        guard let context, var current = exchange else { return }
        discarding = true
        var headers = HTTPHeaders()
        var body: String
        if let rule {
            headers.add(name: "X-Paddock-Denied", value: "\(current.method) \(host)\(current.path)")
            headers.add(name: "X-Paddock-Rule", value: rule)
            body =
                "paddock: the sandbox's network policy does not allow \(current.method) \(current.path) on \(host).\n"
            body += "Rule: \(rule).\n"
            body +=
                "To allow it, the user can change [[network.requests]] for \(host) in paddock.toml on the host (outside the sandbox).\n"
        } else {
            body = "paddock gateway: \(reason ?? status.reasonPhrase)\n"
        }
        current.status = Int(status.code)
        exchange = current
        respond(context, status, headers: headers, body: body)
        finish(decision: rule == nil ? .invalid : .deny, rule: rule ?? "invalid", error: reason)
    }

    /// The gateway's own answer, then the connection closes.
    private func respond(
        _ context: ChannelHandlerContext, _ status: HTTPResponseStatus, headers: HTTPHeaders = HTTPHeaders(),
        body: String
    ) {
        var headers = headers
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }

    // MARK: to the origin

    private func send(_ part: HTTPClientRequestPart, flush: Bool = false) {
        if let upstream, upstream.isActive, queued.isEmpty {
            upstream.write(part, promise: nil)
            if flush { upstream.flush() }
            return
        }
        queued.append(part)
        if let failure = upstreamFailure {
            badGateway(failure)
            return
        }
        guard !dialling, upstream == nil || upstream?.isActive == false else { return }
        dialling = true
        upstream = nil
        redial().assumeIsolatedUnsafeUnchecked().whenComplete { [weak self] result in
            guard let self else { return }
            dialling = false
            switch result {
            case .success(let channel):
                do {
                    try adopt(channel)
                } catch {
                    channel.close(promise: nil)
                    badGateway("the connection to \(target) could not be set up: \(error)")
                }
            case .failure(let error):
                badGateway("\(error)")
            }
        }
    }

    private func flushQueued() {
        guard let upstream, !queued.isEmpty else { return }
        for part in queued { upstream.write(part, promise: nil) }
        queued.removeAll()
        upstream.flush()
    }

    private func badGateway(_ reason: String) {
        queued.removeAll()
        guard let context, var current = exchange else { return }
        guard !current.answered else {
            finish(error: reason)
            context.close(promise: nil)
            return
        }
        current.status = 502
        exchange = current
        discarding = true
        respond(
            context, .badGateway, body: "paddock gateway: \(target) is allowed but the connection failed: \(reason)\n")
        finish(error: reason)
    }

    // MARK: from the origin (the relay, on this event loop)

    func upstreamResponse(_ part: HTTPClientResponsePart, from source: Channel) {
        guard let context, exchange != nil else {
            // Nobody asked: an origin talking out of turn.
            upstream?.close(promise: nil)
            return
        }
        switch part {
        case .head(let head):
            exchange?.status = Int(head.status.code)
            if head.status.code >= 200 { exchange?.answered = true }
            context.write(wrapOutboundOut(.head(head)), promise: nil)
        case .body(let body):
            exchange?.bytesDown += UInt64(body.readableBytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        case .end(let trailers):
            guard exchange?.answered == true else {
                // The end of an informational (1xx) response: the real one follows.
                return
            }
            context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
            finish()
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamFailed(_ error: Error) {
        if case NIOSSLError.uncleanShutdown = error {
            // The origin ended the connection without close_notify, as many do: after a completed handshake that
            // is its end, which the response's own framing (or, for a body framed by the close, the close itself)
            // makes whole. The close that follows ends an unanswered exchange with a 502.
            upstream?.close(promise: nil)
            return
        }
        let reason: String
        if let tls = error as? NIOSSLError {
            reason =
                "TLS with the real host failed (its certificate could not be verified, or the handshake failed): \(tls)"
        } else {
            reason = "\(error)"
        }
        logger.notice("paddock gateway: upstream \(target): \(reason)")
        upstreamFailure = reason
        if exchange != nil { badGateway(reason) }
        upstream?.close(promise: nil)
    }

    func upstreamWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    func upstreamClosed(_ source: Channel) {
        // `upstreamGone` runs from the channel's close future, for failed dials too.
    }

    private func upstreamGone(_ channel: Channel) {
        guard channel === upstream else { return }
        upstream = nil
        relay = nil
        if exchange != nil, !dialling {
            badGateway(upstreamFailure ?? "the host closed the connection before it answered")
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { relay?.clientBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    private func finish(
        decision: ConnectionRecord.Decision = .allow, rule: String? = nil, error: String? = nil
    ) {
        guard let done = exchange else { return }
        exchange = nil
        let elapsed = NIODeadline.now() - done.started
        recorder.record(
            ConnectionRecord(
                time: done.wallClock, protocol: "https", host: host, port: target.port, decision: decision,
                rule: rule ?? (done.credentialAdded ? "credential added" : "intercepted"), reason: nil,
                bytesUp: done.bytesUp, bytesDown: done.bytesDown,
                durationMs: Double(elapsed.nanoseconds) / 1_000_000, error: error ?? done.warning,
                method: done.method, path: done.path, status: done.status, credential: done.credentialAdded))
    }
}
