import NIOCore
import NIOHTTP1
import PaddockCore

/// The HTTP/1.1 proxy protocol: CONNECT becomes a tunnel; an absolute-URI request is forwarded to the origin, and
/// every request on a kept-alive connection goes to the async code for its own decision. Reads from the client
/// are held while a decision is pending and while the origin cannot take more.
final class HTTPProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
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
    }

    private enum State {
        case idle
        case awaitingTunnel
        case awaitingUpstream(Exchange)
        case forwarding(Exchange)
        case tunnel
        case closing
    }

    private var state = State.idle
    private var context: ChannelHandlerContext?
    /// Parts of pipelined requests that arrived while an earlier one was still being answered.
    private var queued = CircularBuffer<HTTPServerRequestPart>()
    private var pendingRead = false

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
                queued.append(part)
            } else {
                exchange.parts.append(part)
                if case .end = part { exchange.requestEnded = true }
            }
        case .forwarding(let exchange):
            if exchange.requestEnded {
                queued.append(part)
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
                badRequest(context, "CONNECT \(head.uri)", error.description)
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
            badRequest(context, "\(head.method) \(head.uri)", "\(error)")
            return
        }
        let exchange = Exchange(
            head: forward.head, clientKeepAlive: head.isKeepAlive, expectsContinue: forward.expectsContinue)
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
        switch state {
        case .idle:
            badRequest(context, "HTTP request", "malformed HTTP request: \(error)")
        case .awaitingTunnel, .awaitingUpstream, .forwarding, .tunnel:
            // Mid-exchange a response may already be on its way: the only safe answer is to close.
            state = .closing
            context.fireChannelRead(
                wrapInboundOut(.invalid(.http, request: "HTTP request", reason: "malformed HTTP: \(error)")))
            context.close(promise: nil)
        case .closing:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .forwarding(let exchange), .awaitingUpstream(let exchange):
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
        case .idle, .tunnel:
            context.read()
        case .forwarding(let exchange) where !exchange.requestEnded:
            if exchange.upstream?.isWritable ?? false {
                context.read()
            } else {
                pendingRead = true
            }
        case .awaitingTunnel, .awaitingUpstream, .forwarding, .closing:
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
            respondAndClose(context, HTTPRefusal.response(for: .connectFailed(nil, "the origin connection is unusable")))
            return
        }
        exchange.upstream = upstream
        state = .forwarding(exchange)
        handler.attach(client: self, clientChannel: context.channel)
        if exchange.expectsContinue {
            // The gateway answers `Expect: 100-continue` itself once the origin is connected.
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
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
            exchange.responseStarted = true
            exchange.upstreamReusable = head.isKeepAlive
            ForwardRequest.removeHopByHopHeaders(&head.headers)
            let isHEAD = exchange.head.method == .HEAD
            let bodyless = isHEAD || head.status.code / 100 == 1 || head.status.code == 204 || head.status.code == 304
            if isHEAD { head.headers.remove(name: "transfer-encoding") }
            let framed = head.headers.contains(name: "content-length")
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
        if exchange.responseStarted {
            // A response cut short cannot be repaired; the client learns from the closed connection.
            state = .closing
            context.close(promise: nil)
        } else {
            respondAndClose(context, HTTPRefusal.response(for: .connectFailed(nil, "the origin closed the connection without answering")))
        }
    }

    private func finishExchange(_ context: ChannelHandlerContext, _ exchange: Exchange) {
        context.fireChannelRead(
            wrapInboundOut(
                .exchangeFinished(
                    bytesUp: exchange.up, bytesDown: exchange.down,
                    reusable: exchange.upstreamReusable && exchange.requestEnded)))
        guard exchange.clientKeepAlive else {
            state = .closing
            context.close(promise: nil)
            return
        }
        state = .idle
        // Everything that arrived meanwhile goes through `handle` again, not only while idle: the next request's
        // head starts an exchange, its body and end join that exchange, and what lies beyond it is queued again.
        let arrived = queued
        queued.removeAll()
        for part in arrived {
            handle(context, part)
        }
        resumeReading(context)
    }

    // MARK: Answers

    private func badRequest(_ context: ChannelHandlerContext, _ request: String, _ reason: String) {
        context.fireChannelRead(wrapInboundOut(.invalid(.http, request: request, reason: reason)))
        respondAndClose(context, HTTPRefusal.response(for: .badRequest(reason)))
    }

    private func respondAndClose(_ context: ChannelHandlerContext, _ response: (HTTPResponseHead, ByteBuffer)) {
        if case .closing = state { return }
        state = .closing
        context.write(wrapOutboundOut(.head(response.0)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.1))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// An absolute-URI request rewritten for the origin: origin-form target, `Host` from the URI, hop-by-hop headers
/// and proxy credentials removed.
struct ForwardRequest {
    let target: NetworkTarget
    let head: HTTPRequestHead
    let expectsContinue: Bool

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    init(_ original: HTTPRequestHead) throws(Invalid) {
        let uri = original.uri
        let lower = uri.prefix(8).lowercased()
        guard lower.hasPrefix("http://") else {
            if lower.hasPrefix("https://") {
                throw Invalid(description: "https:// URLs go through CONNECT (HTTPS_PROXY), not as plain requests")
            }
            if uri.hasPrefix("/") {
                throw Invalid(description: "this is a proxy: send an absolute URL (http://host/path) or CONNECT")
            }
            throw Invalid(description: "unsupported request target \(uri.prefix(100).debugDescription)")
        }
        let rest = uri.dropFirst(7)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = rest[authorityEnd...]
        if let hash = path.firstIndex(of: "#") { path = path[..<hash] }
        let originForm = path.isEmpty ? "/" : (path.hasPrefix("?") ? "/" + path : String(path))
        do {
            target = try NetworkTarget(authority: String(authority), defaultPort: 80)
        } catch {
            throw Invalid(description: error.description)
        }
        var headers = original.headers
        expectsContinue = headers["expect"].contains { $0.lowercased() == "100-continue" }
        headers.remove(name: "expect")
        Self.removeHopByHopHeaders(&headers)
        let hostHeader = target.port == 80 ? target.host.authorityForm : target.description
        headers.replaceOrAdd(name: "host", value: hostHeader)
        head = HTTPRequestHead(version: original.version, method: original.method, uri: originForm, headers: headers)
    }

    /// RFC 9110 §7.6.1: `Connection` and the fields it names, plus the classic hop-by-hop set. The framing fields
    /// stay: the codecs on both sides frame the body by them.
    static func removeHopByHopHeaders(_ headers: inout HTTPHeaders) {
        let named = headers["connection"].flatMap { $0.split(separator: ",") }.map {
            String($0).trimmingCharacters(in: " \t").lowercased()
        }
        for name in named where name != "content-length" && name != "transfer-encoding" {
            headers.remove(name: name)
        }
        for name in ["connection", "proxy-connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te", "upgrade"] {
            headers.remove(name: name)
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
