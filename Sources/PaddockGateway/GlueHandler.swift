import NIOCore

/// Splices two channels on the same event loop: bytes read on one are written to the other. A side stops reading
/// while its partner cannot write (backpressure both ways), an end of input becomes a half-close of the partner's
/// output (both channels run with `allowRemoteHalfClosure`), and the tunnel's byte counts are reported once both
/// sides are gone. After swift-nio-examples' GlueHandler, with counting and half-close added.
final class GlueHandler {
    /// Shared by the two halves of one tunnel; only touched on their common event loop.
    final class Tunnel {
        var up: UInt64 = 0
        var down: UInt64 = 0
        var removed = 0
        let completion: TunnelCompletion

        init(completion: TunnelCompletion) {
            self.completion = completion
        }

        func sideRemoved() {
            removed += 1
            if removed == 2 { completion.finish(TunnelBytes(up: up, down: down)) }
        }
    }

    private var partner: GlueHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private let tunnel: Tunnel
    /// The client side counts bytes up, the upstream side bytes down.
    private let isClientSide: Bool

    private init(tunnel: Tunnel, isClientSide: Bool) {
        self.tunnel = tunnel
        self.isClientSide = isClientSide
    }

    /// (client side, upstream side).
    static func matchedPair(completion: TunnelCompletion) -> (GlueHandler, GlueHandler) {
        let tunnel = Tunnel(completion: completion)
        let client = GlueHandler(tunnel: tunnel, isClientSide: true)
        let upstream = GlueHandler(tunnel: tunnel, isClientSide: false)
        client.partner = upstream
        upstream.partner = client
        return (client, upstream)
    }

    private func partnerWrite(_ buffer: ByteBuffer) {
        context?.write(NIOAny(buffer), promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    private func partnerWriteEOF() {
        guard let context else { return }
        // Half-close only after every byte already queued is written: when this side's input is closed too, NIO
        // escalates an output close to a full close that would drop whatever is still pending.
        let channel = context.channel
        let flushed = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(channel.allocator.buffer(capacity: 0)), promise: flushed)
        flushed.futureResult.whenComplete { _ in channel.close(mode: .output, promise: nil) }
    }

    private func partnerCloseFull() {
        context?.close(promise: nil)
    }

    /// The other side is gone: deliver what is already queued here, then close. (An end of input on a socket whose
    /// output is already shut arrives as plain inactivity, not as `inputClosed`, so this is the half-close path too.)
    private func partnerCloseAfterFlush() {
        guard let context else { return }
        let channel = context.channel
        let flushed = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(channel.allocator.buffer(capacity: 0)), promise: flushed)
        flushed.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    private var partnerWritable: Bool {
        context?.channel.isWritable ?? false
    }
}

extension GlueHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
        tunnel.sideRemoved()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard buffer.readableBytes > 0 else { return }
        if isClientSide {
            tunnel.up &+= UInt64(buffer.readableBytes)
        } else {
            tunnel.down &+= UInt64(buffer.readableBytes)
        }
        partner?.partnerWrite(buffer)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.partnerCloseAfterFlush()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            partner?.partnerWriteEOF()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        partner?.partnerCloseFull()
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if let partner, partner.partnerWritable {
            context.read()
        } else {
            pendingRead = true
        }
    }
}

/// Turns a client connection whose request was granted into a tunnel.
enum TunnelSplice {
    /// Flushes early bytes to the upstream and lets both sides read. On the tunnel's event loop.
    private static func startReading(client: Channel, upstream: Channel) {
        upstream.flush()
        // The upstream was connected with autoRead off so nothing it said was dropped before the glue existed.
        do {
            guard let options = upstream.syncOptions else { throw ChannelError.operationUnsupported }
            try options.setOption(.autoRead, value: true)
        } catch {
            upstream.close(promise: nil)
        }
        client.read()
    }

    /// Adds the glue pair, passes on `early` bytes the caller holds, removes the calling protocol handler, then
    /// `handlers` in order. Removing a decoder fires the bytes it still holds (a TLS ClientHello sent right behind
    /// the CONNECT) into the client glue, so nothing the client sent early is lost. Must run on the client's event
    /// loop, which the upstream shares.
    static func splice(
        client context: ChannelHandlerContext, upstream: Channel, completion: TunnelCompletion,
        early: ByteBuffer? = nil, thenRemoving handlers: [ChannelHandlerContext]
    ) throws {
        guard upstream.eventLoop === context.eventLoop else { throw ChannelError.operationUnsupported }
        let (clientGlue, upstreamGlue) = GlueHandler.matchedPair(completion: completion)
        try upstream.pipeline.syncOperations.addHandler(upstreamGlue)
        let sync = context.pipeline.syncOperations
        let channel = context.channel
        try sync.addHandler(clientGlue, position: .after(context.handler))
        if let early, early.readableBytes > 0 {
            context.fireChannelRead(NIOAny(early))
        }
        sync.removeHandler(context: context, promise: nil)
        guard !handlers.isEmpty else {
            // Nothing left to remove (the short CONNECT path): start at once, without a future per tunnel.
            startReading(client: channel, upstream: upstream)
            return
        }
        // ByteToMessageHandler leaves the pipeline on a later loop tick, firing what it holds as it goes: only
        // then flush those early bytes and start reading, so nothing new reaches a half-removed decoder.
        let removals = handlers.map { handler in
            let promise = channel.eventLoop.makePromise(of: Void.self)
            sync.removeHandler(context: handler, promise: promise)
            return promise.futureResult
        }
        EventLoopFuture.andAllComplete(removals, on: channel.eventLoop).whenComplete { _ in
            startReading(client: channel, upstream: upstream)
        }
    }
}
