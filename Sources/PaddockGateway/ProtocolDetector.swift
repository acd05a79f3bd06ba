import NIOCore
import NIOHTTP1
import NIOSOCKS
import PaddockCore

/// Looks at the first byte and sets the pipeline up for the protocol the client speaks: 0x05 is SOCKS5, an
/// upper-case letter starts an HTTP request line (a complete, plain CONNECT takes `HTTPConnectHandler`'s short
/// way). Anything else is answered with nothing and closed.
final class ProtocolDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ProxyEvent

    private var detected = false
    /// What SOCKS5 clients must authenticate with (the loopback listener of the relay transport).
    private let credential: ProxyCredential?
    private let probe: GatewayProbe?

    init(credential: ProxyCredential? = nil, probe: GatewayProbe? = nil) {
        self.credential = credential
        self.probe = probe
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !detected else {
            // Only reached in SOCKS mode, where this handler stays in front of NIOSOCKS (see `rescan`).
            context.fireChannelRead(data)
            return
        }
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        let sync = context.pipeline.syncOperations
        do {
            switch first {
            case 0x05:
                try sync.addHandlers(
                    [SOCKSServerHandshakeHandler(), SOCKSProxyHandler(credential: credential)], position: .after(self))
                detected = true
                context.fireChannelRead(data)
            case UInt8(ascii: "C"):
                guard let head = HTTPConnectHead.parse(buffer),
                    let target = try? NetworkTarget(authority: head.authority)
                else {
                    try addHTTPHandlers(context, data)
                    return
                }
                // A plain CONNECT: no HTTP codec to add and remove again (see HTTPConnectHandler).
                let early = buffer.getSlice(
                    at: buffer.readerIndex + head.length, length: buffer.readableBytes - head.length)
                let handler = HTTPConnectHandler(early: early?.readableBytes == 0 ? nil : early)
                try sync.addHandler(handler, position: .after(self))
                sync.removeHandler(context: context, promise: nil)
                handler.start(target)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                if probe?.answerIfProbe(context, buffer) == true { return }
                try addHTTPHandlers(context, data)
            default:
                context.fireChannelRead(
                    wrapInboundOut(
                        .invalid(nil, request: "first byte 0x\(String(first, radix: 16))", reason: "unknown protocol")))
                context.close(promise: nil)
            }
        } catch {
            context.close(promise: nil)
        }
    }

    private func addHTTPHandlers(_ context: ChannelHandlerContext, _ data: NIOAny) throws {
        let sync = context.pipeline.syncOperations
        var encoderConfiguration = HTTPResponseEncoder.Configuration()
        // The proxy frames its own responses and passes the origin's framing through untouched.
        encoderConfiguration.automaticallySetFramingHeaders = false
        try sync.addHandlers(
            [
                HTTPResponseEncoder(configuration: encoderConfiguration),
                RequestDecoderFeed(),
                ByteToMessageHandler(
                    HTTPRequestDecoder(
                        leftOverBytesStrategy: .forwardBytes, informationalResponseStrategy: .drop,
                        limitConfiguration: HTTPHeadLimit.decoder)),
                HTTPProxyHandler(),
            ], position: .after(self))
        context.fireChannelRead(data)
        sync.removeHandler(context: context, promise: nil)
    }

    /// NIOSOCKS parses one message per read, so a request that arrived in the same packet as the greeting would wait
    /// for a read that never comes. An empty read makes it look at what it has buffered.
    func rescan(context: ChannelHandlerContext) {
        context.fireChannelRead(NIOAny(context.channel.allocator.buffer(capacity: 0)))
    }
}
