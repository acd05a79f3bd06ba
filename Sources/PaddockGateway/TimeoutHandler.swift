import NIOCore

/// Closes a connection that stays idle (after `IdleStateHandler`) or that has not finished its handshake in time.
/// A slow-drip client sends a byte now and then and is never idle; the handshake deadline still ends it.
final class TimeoutHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let handshakeTimeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(handshakeTimeout: TimeAmount) {
        self.handshakeTimeout = handshakeTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: handshakeTimeout) {
            channel.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    /// The client's request has been read in full: from now on only the idle timeout applies.
    func handshakeCompleted() {
        deadline?.cancel()
        deadline = nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Ends the handshake deadline of this connection, if it has one.
    func completeHandshake() {
        (try? handler(type: TimeoutHandler.self))?.handshakeCompleted()
    }
}
