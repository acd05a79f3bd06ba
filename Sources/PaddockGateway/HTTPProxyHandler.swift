import NIOCore
import NIOHTTP1
import PaddockCore

/// The HTTP/1.1 proxy protocol: CONNECT becomes a tunnel; an absolute-URI request is forwarded to the origin, and
/// every request on a kept-alive connection goes to `ProxyDecisionHandler`, on the same event loop, for its own
/// decision. Reads from the client
/// are held while a decision is pending and while the origin cannot take more. Nothing the origin sent is lost:
/// every way this connection ends first lets what is queued for the client go out (see `endConnection`).
final class HTTPProxyHandler: ChannelDuplexHandler, RemovableChannelHandler, UpstreamResponseSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = ProxyEvent
    typealias OutboundIn = ProxyCommand
    typealias OutboundOut = HTTPServerResponsePart

    /// The plain-HTTP request in flight (class so the state enum needs no copy-modify-write dance).
    final class Exchange {
        let head: HTTPRequestHead
        var clientKeepAlive: Bool
        let expectsContinue: Bool
        var parts: [HTTPServerRequestPart] = []
        var requestEnded = false
        var responseStarted = false
        var upstreamReusable = true
        var upstream: Channel?
        var up: UInt64 = 0
        var down: UInt64 = 0

        init(head: HTTPRequestHead, clientKeepAlive: Bool, expectsContinue: Bool) {
            self.head = head
            self.clientKeepAlive = clientKeepAlive
            self.expectsContinue = expectsContinue
        }

        /// The origin connection's handler stops reporting to this exchange (it may be closed or reused later).
        func detachUpstream() {
            (try? upstream?.pipeline.syncOperations.handler(type: UpstreamHTTPHandler.self))?.detach()
        }
    }

    private enum State {
        case idle
        case awaitingTunnel
        case awaitingUpstream(Exchange)
        case forwarding(Exchange)
        case tunnel
        case closing
    }

    /// What arrived behind the request in flight: parts of pipelined requests, or the decoder's verdict that the
    /// next one is broken (answered in its turn, after the responses before it).
    private enum Queued {
        case part(HTTPServerRequestPart)
        case broken(Refusal, reason: String)
    }

    private var state = State.idle
    private var context: ChannelHandlerContext?
    private var queued = CircularBuffer<Queued>()
    private var pendingRead = false
    /// The decoder failed; it reports every later byte as another error.
    private var decoderFailed = false
    /// The client shut its side: answer what it asked, then end the connection.
    private var clientInputEnded = false
    /// `endConnection` ran: nothing more is written.
    private var ending = false

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Client → gateway

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A decoder removed while the closed channel tears down forwards its leftover bytes as a ByteBuffer;
        // unwrapping that as a request part would trap. Nothing read after close matters.
        guard context.channel.isActive else { return }
        if case .closing = state { return }
        handle(context, unwrapInboundIn(data))
    }

    private func handle(_ context: ChannelHandlerContext, _ part: HTTPServerRequestPart) {
        switch state {
        case .idle:
            guard case .head(let head) = part else {
                // Only the end of a request we already refused can get here; a stray part is harmless.
                return
            }
            startRequest(context, head)
        case .awaitingTunnel, .tunnel, .closing:
            break  // CONNECT carries no body; the decoder stops parsing after it.
        case .awaitingUpstream(let exchange):
            if exchange.requestEnded {
                queued.append(.part(part))
            } else {
                exchange.parts.append(part)
                if case .end = part { exchange.requestEnded = true }
            }
        case .forwarding(let exchange):
            if exchange.requestEnded {
                queued.append(.part(part))
            } else {
                sendUpstream(part, exchange)
            }
        }
    }

    private func startRequest(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) {
        if head.method == .CONNECT {
            let target: NetworkTarget
            do {
                target = try NetworkTarget(authority: head.uri)
            } catch {
                refuse(context, "CONNECT \(head.uri)", .badRequest(error.description), reason: error.description)
                return
            }
            state = .awaitingTunnel
            context.pipeline.syncOperations.completeHandshake()
            context.fireChannelRead(wrapInboundOut(.tunnel(.connect, target)))
            return
        }
        let forward: ForwardRequest
        do {
            forward = try ForwardRequest(head)
        } catch {
            let refusal: Refusal =
                error.isUnsupported ? .notSupported(error.description) : .badRequest(error.description)
            refuse(context, "\(head.method) \(head.uri)", refusal, reason: error.description)
            return
        }
        // After a request that asks to upgrade, the decoder parses nothing more on this connection: the answer
        // must end it, or the client's next request would wait forever.
        let exchange = Exchange(
            head: forward.head, clientKeepAlive: head.isKeepAlive && !forward.asksUpgrade,
            expectsContinue: forward.expectsContinue)
        state = .awaitingUpstream(exchange)
        context.pipeline.syncOperations.completeHandshake()
        context.fireChannelRead(wrapInboundOut(.forward(forward.target, forward.head)))
    }

    private func sendUpstream(_ part: HTTPServerRequestPart, _ exchange: Exchange) {
        guard let upstream = exchange.upstream else { return }
        switch part {
        case .head:
            break  // Cannot happen: a new head only follows an end, which moves later parts to the queue.
        case .body(let buffer):
            exchange.up &+= UInt64(buffer.readableBytes)
            upstream.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
        case .end(let trailers):
            exchange.requestEnded = true
            upstream.writeAndFlush(HTTPClientRequestPart.end(trailers), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .forwarding(let exchange) = state { exchange.upstream?.flush() }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if decoderFailed { return }
        decoderFailed = true
        let (refusal, reason) = refusal(for: error, context)
        switch state {
        case .idle:
            refuse(context, "HTTP request", refusal, reason: reason)
        case .awaitingUpstream(let exchange), .forwarding(let exchange):
            if exchange.requestEnded {
                // The request in flight is whole; the broken one came after it and is answered in its turn.
                queued.append(.broken(refusal, reason: reason))
                return
            }
            // The request's own body is broken: the origin can never get it whole.
            context.fireChannelRead(wrapInboundOut(.invalid(.http, request: "HTTP request body", reason: reason)))
            abortExchange(context, exchange, error: reason)
            if exchange.responseStarted {
                endConnection(context)
            } else {
                respondAndClose(context, HTTPRefusal.response(for: refusal))
            }
        case .awaitingTunnel, .tunnel:
            context.fireChannelRead(wrapInboundOut(.invalid(.http, request: "HTTP request", reason: reason)))
            endConnection(context)
        case .closing:
            break
        }
    }

    /// What to answer for a decoder error: an oversized request line or header section has its own status.
    private func refusal(for error: Error, _ context: ChannelHandlerContext) -> (Refusal, reason: String) {
        guard let parserError = error as? HTTPParserError, case .headerOverflow = parserError else {
            return (.badRequest("malformed HTTP request: \(error)"), "malformed HTTP request: \(error)")
        }
        let feed = try? context.pipeline.syncOperations.handler(type: RequestDecoderFeed.self)
        if feed?.overflowIsInRequestLine() ?? false {
            return (.uriTooLong, "request line longer than \(HTTPHeadLimit.description)")
        }
        return (.headersTooLarge, "request header fields larger than \(HTTPHeadLimit.description)")
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            clientInputEnded = true
            // Between requests there is nothing left to answer; otherwise the exchange ends the connection.
            if case .idle = state { endConnection(context) }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .forwarding(let exchange), .awaitingUpstream(let exchange):
            exchange.detachUpstream()
            exchange.upstream?.close(promise: nil)
        default:
            break
        }
        state = .closing
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .forwarding(let exchange) = state,
            let upstream = exchange.upstream,
            let handler = try? upstream.pipeline.syncOperations.handler(type: UpstreamHTTPHandler.self)
        {
            handler.clientBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        switch state {
        case .idle, .tunnel, .closing:
            // While closing, reads drain what the client still sends (dropped unparsed by the decoder feed).
            context.read()
        case .forwarding(let exchange) where !exchange.requestEnded:
            if exchange.upstream?.isWritable ?? false {
                context.read()
            } else {
                pendingRead = true
            }
        case .awaitingTunnel, .awaitingUpstream, .forwarding:
            pendingRead = true
        }
    }

    private func resumeReading(_ context: ChannelHandlerContext) {
        if pendingRead {
            pendingRead = false
            read(context: context)
        }
    }

    // MARK: Async code → client

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        switch (state, command) {
        case (.awaitingTunnel, .refuse(let refusal)), (.awaitingUpstream, .refuse(let refusal)):
            respondAndClose(context, HTTPRefusal.response(for: refusal))
        case (.awaitingTunnel, .startTunnel(let upstream, let completion)):
            state = .tunnel
            let head = HTTPResponseHead(
                version: .http1_1, status: .custom(code: 200, reasonPhrase: "Connection established"))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            do {
                let sync = context.pipeline.syncOperations
                try TunnelSplice.splice(
                    client: context, upstream: upstream, completion: completion,
                    thenRemoving: [
                        try sync.context(handlerType: RequestDecoderFeed.self),
                        try sync.context(handlerType: ByteToMessageHandler<HTTPRequestDecoder>.self),
                        try sync.context(handlerType: HTTPResponseEncoder.self),
                    ])
            } catch {
                upstream.close(promise: nil)
                completion.finish(TunnelBytes(up: 0, down: 0))
                context.close(promise: nil)
            }
        case (.awaitingUpstream(let exchange), .forward(let upstream)):
            startForwarding(context, exchange, upstream)
        case (_, let command):
            command.release()
        }
        promise?.succeed(())
    }

    private func startForwarding(_ context: ChannelHandlerContext, _ exchange: Exchange, _ upstream: Channel) {
        guard upstream.eventLoop === context.eventLoop,
            let handler = try? upstream.pipeline.syncOperations.handler(type: UpstreamHTTPHandler.self)
        else {
            upstream.close(promise: nil)
            respondAndClose(
                context, HTTPRefusal.response(for: .connectFailed(nil, "the origin connection is unusable")))
            return
        }
        exchange.upstream = upstream
        state = .forwarding(exchange)
        handler.attach(client: self, clientChannel: context.channel)
        if exchange.expectsContinue {
            // The gateway answers `Expect: 100-continue` itself once the origin is connected.
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        upstream.write(HTTPClientRequestPart.head(exchange.head), promise: nil)
        let buffered = exchange.parts
        exchange.parts = []
        for part in buffered {
            switch part {
            case .head: break
            case .body(let buffer):
                exchange.up &+= UInt64(buffer.readableBytes)
                upstream.write(HTTPClientRequestPart.body(.byteBuffer(buffer)), promise: nil)
            case .end(let trailers):
                upstream.write(HTTPClientRequestPart.end(trailers), promise: nil)
            }
        }
        upstream.flush()
        upstream.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in upstream.close(promise: nil) }
        resumeReading(context)
    }

    // MARK: Origin → client (called by UpstreamHTTPHandler on the same event loop)

    func upstreamResponse(_ part: HTTPClientResponsePart, from upstream: Channel) {
        guard let context, case .forwarding(let exchange) = state, exchange.upstream === upstream else { return }
        switch part {
        case .head(var head):
            if head.status == .switchingProtocols {
                // The upgrade was not forwarded; whatever the origin switched to cannot pass a plain request.
                let reason =
                    "the origin answered 101 Switching Protocols, and an upgraded connection cannot pass "
                    + "through a plain http:// proxy request (use CONNECT)"
                abortExchange(context, exchange, error: reason)
                respondAndClose(context, HTTPRefusal.response(for: .connectFailed(nil, reason)))
                return
            }
            exchange.responseStarted = true
            exchange.upstreamReusable = head.isKeepAlive
            ForwardRequest.removeHopByHopHeaders(&head.headers)
            let isHEAD = exchange.head.method == .HEAD
            let bodyless = isHEAD || head.status.code / 100 == 1 || head.status.code == 204 || head.status.code == 304
            if isHEAD { head.headers.remove(name: "transfer-encoding") }
            let framed =
                head.headers.contains(name: "content-length")
                || head.headers["transfer-encoding"].contains { $0.lowercased().contains("chunked") }
            if !bodyless && !framed {
                // The body ends when the origin closes: so must the client's connection.
                exchange.clientKeepAlive = false
            }
            if !exchange.clientKeepAlive || !exchange.requestEnded {
                exchange.clientKeepAlive = false
                head.headers.replaceOrAdd(name: "connection", value: "close")
            }
            head.version = .http1_1
            context.write(wrapOutboundOut(.head(head)), promise: nil)
        case .body(let buffer):
            exchange.down &+= UInt64(buffer.readableBytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        case .end(let trailers):
            context.writeAndFlush(wrapOutboundOut(.end(trailers)), promise: nil)
            finishExchange(context, exchange)
        }
    }

    func upstreamReadComplete() {
        context?.flush()
    }

    func upstreamWritable() {
        guard let context, case .forwarding(let exchange) = state, !exchange.requestEnded else { return }
        resumeReading(context)
    }

    func upstreamClosed(_ upstream: Channel) {
        guard let context, case .forwarding(let exchange) = state, exchange.upstream === upstream else { return }
        let reason =
            exchange.responseStarted
            ? "the origin closed the connection before the response was complete"
            : "the origin closed the connection without answering"
        abortExchange(context, exchange, error: reason)
        if exchange.responseStarted {
            // A response cut short cannot be repaired: the client gets every byte that came, then the close.
            endConnection(context)
        } else {
            respondAndClose(context, HTTPRefusal.response(for: .connectFailed(nil, reason)))
        }
    }

    /// The response went out whole. The exchange is over before anyone hears of it: the decision handler closes an
    /// origin connection it will not reuse right away, and that close must not find this exchange still open.
    private func finishExchange(_ context: ChannelHandlerContext, _ exchange: Exchange) {
        let keepAlive = exchange.clientKeepAlive && !clientInputEnded
        state = keepAlive ? .idle : .closing
        exchange.detachUpstream()
        context.fireChannelRead(
            wrapInboundOut(
                .exchangeFinished(
                    bytesUp: exchange.up, bytesDown: exchange.down,
                    reusable: exchange.upstreamReusable && exchange.requestEnded, error: nil)))
        guard keepAlive else {
            endConnection(context)
            return
        }
        // A queued head starts the next exchange; its body and end are queued behind it and belong to it, so the
        // queue drains while that exchange still takes request parts, not only while idle.
        while let next = queued.first, takesQueued(next) {
            queued.removeFirst()
            switch next {
            case .part(let part): handle(context, part)
            case .broken(let refusal, let reason): refuse(context, "HTTP request", refusal, reason: reason)
            }
        }
        resumeReading(context)
    }

    /// Whether the state now takes the oldest queued entry: any entry when idle; a part of the request in flight
    /// while that request has not ended.
    private func takesQueued(_ entry: Queued) -> Bool {
        switch state {
        case .idle:
            return true
        case .awaitingUpstream(let exchange), .forwarding(let exchange):
            if case .part = entry { return !exchange.requestEnded }
            return false
        case .awaitingTunnel, .tunnel, .closing:
            return false
        }
    }

    /// The exchange cannot complete: log it, and let the decision handler close the origin connection.
    private func abortExchange(_ context: ChannelHandlerContext, _ exchange: Exchange, error: String) {
        state = .closing
        exchange.detachUpstream()
        context.fireChannelRead(
            wrapInboundOut(
                .exchangeFinished(bytesUp: exchange.up, bytesDown: exchange.down, reusable: false, error: error)))
    }

    // MARK: Answers and the end

    private func refuse(_ context: ChannelHandlerContext, _ request: String, _ refusal: Refusal, reason: String) {
        context.fireChannelRead(wrapInboundOut(.invalid(.http, request: request, reason: reason)))
        respondAndClose(context, HTTPRefusal.response(for: refusal))
    }

    private func respondAndClose(_ context: ChannelHandlerContext, _ response: (HTTPResponseHead, ByteBuffer)) {
        guard !ending else { return }
        context.write(wrapOutboundOut(.head(response.0)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.1))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        endConnection(context)
    }

    /// The only way this handler ends a connection it can still write to: what is queued for the client goes out
    /// first, then the connection shuts and lingers (`Channel.closeGracefully`), dropping what the client still
    /// sends before it reaches the decoder.
    private func endConnection(_ context: ChannelHandlerContext) {
        state = .closing
        guard !ending else { return }
        ending = true
        (try? context.pipeline.syncOperations.handler(type: RequestDecoderFeed.self))?.discardFromNowOn()
        // An empty body part is a no-op for the encoder, and its promise completes after every earlier write.
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer()))), promise: written)
        context.channel.closeGracefully(after: written.futureResult)
        pendingRead = false
        context.read()
    }
}
