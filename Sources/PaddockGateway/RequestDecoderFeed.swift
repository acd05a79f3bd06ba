import NIOCore

/// Passes the client's bytes to the HTTP request decoder until the connection is ending; from then on what the
/// client still sends is dropped here, unparsed: behind an upgrade or a CONNECT the decoder stops parsing and would
/// keep every byte.
final class RequestDecoderFeed: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var discarding = false

    func discardFromNowOn() {
        discarding = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discarding else { return }
        context.fireChannelRead(data)
    }
}
