import NIOCore
import NIOHTTP1

/// Whoever takes an origin's response parts on the client's event loop: the plain-HTTP proxy, or an intercepted
/// connection.
protocol UpstreamResponseSink: AnyObject {
    func upstreamResponse(_ part: HTTPClientResponsePart, from upstream: Channel)
    func upstreamReadComplete()
    func upstreamWritable()
    func upstreamClosed(_ upstream: Channel)
    /// Before the connection closes on `error` (a failed TLS verification, say).
    func upstreamFailed(_ error: Error)
}

extension UpstreamResponseSink {
    func upstreamFailed(_ error: Error) {}
}

/// The origin side of a forwarded request: passes response parts to the client's handler (same event loop) and
/// reads from the origin only while the client can take more.
final class UpstreamHTTPHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private weak var client: (any UpstreamResponseSink)?
    private var clientChannel: Channel?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    func attach(client: any UpstreamResponseSink, clientChannel: Channel) {
        self.client = client
        self.clientChannel = clientChannel
    }

    /// The exchange is over: what happens to this connection now (a close, or bytes the origin sends unasked)
    /// concerns no client, and it is read freely again.
    func detach() {
        client = nil
        clientChannel = nil
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.client = nil
        self.clientChannel = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let client else {
            // Nobody asked: an origin talking out of turn on an idle kept-alive connection.
            context.close(promise: nil)
            return
        }
        client.upstreamResponse(unwrapInboundIn(data), from: context.channel)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        client?.upstreamReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        client?.upstreamClosed(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        client?.upstreamFailed(error)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { client?.upstreamWritable() }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if clientChannel?.isWritable ?? true {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func clientBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }
}

/// The text a client (and the agent reading its error) sees when the gateway says no.
enum HTTPRefusal {
    static func response(for refusal: Refusal) -> (HTTPResponseHead, ByteBuffer) {
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        var body: String
        switch refusal {
        case .denied(let target, let decision):
            status = .forbidden
            headers.add(name: "X-Paddock-Denied", value: target.description)
            headers.add(name: "X-Paddock-Rule", value: decision.ruleDescription)
            body = "paddock: the sandbox's network policy does not allow \(target).\n"
            body += "Reason: \(decision.reason).\n"
            if let hint = decision.hint {
                headers.add(name: "X-Paddock-Allow-Command", value: hint)
                body += "To allow it, the user can run this on the host (outside the sandbox):\n\n    \(hint)\n"
            }
        case .badRequest(let reason):
            status = .badRequest
            body = "paddock gateway: bad request: \(reason)\n"
        case .unresolvable(let target, let reason):
            status = .badGateway
            body = "paddock gateway: \(target.host) is allowed but could not be resolved: \(reason)\n"
        case .connectFailed(let target, let reason):
            status = .badGateway
            body = "paddock gateway: \(target.map { "\($0) is allowed but " } ?? "")the connection failed: \(reason)\n"
        case .connectTimedOut(let target):
            status = .gatewayTimeout
            body = "paddock gateway: \(target) is allowed but did not answer in time\n"
        case .overloaded:
            status = .serviceUnavailable
            body = "paddock gateway: too many connections\n"
        case .uriTooLong:
            status = .uriTooLong
            body =
                "paddock gateway: the request line is longer than \(HTTPHeadLimit.description), the most the gateway "
                + "reads.\nSend a shorter URL (large data belongs in a request body).\n"
        case .headersTooLarge:
            status = .requestHeaderFieldsTooLarge
            body =
                "paddock gateway: the request's header fields are larger than \(HTTPHeadLimit.description), the most "
                + "the gateway reads.\nSend fewer or smaller header fields.\n"
        case .notSupported(let reason):
            status = .notImplemented
            body = "paddock gateway: \(reason)\n"
        }
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        var buffer = ByteBufferAllocator().buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        return (HTTPResponseHead(version: .http1_1, status: status, headers: headers), buffer)
    }
}
