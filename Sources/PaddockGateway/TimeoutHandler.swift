import NIOCore

/// Closes a connection that has not finished its handshake in time, or that then stays idle (nothing read or
/// written) for the idle timeout. A slow-drip client sends a byte now and then and is never idle; the handshake
/// deadline still ends it. One handler and one scheduled task per connection: NIO's `IdleStateHandler` plus a
/// handshake timer cost two timers per connection and showed in the gateway's setup rate. Time is the event loop's
/// own clock, so a test on an embedded loop can advance it.
final class TimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny

    private let handshakeTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private var handshakeDeadline = NIODeadline.distantFuture
    private var handshakeDone = false
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    private var check: Scheduled<Void>?
    private var context: ChannelHandlerContext?

    init(handshakeTimeout: TimeAmount, idleTimeout: TimeAmount) {
        self.handshakeTimeout = handshakeTimeout
        self.idleTimeout = idleTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        lastActivity = context.eventLoop.now
        handshakeDeadline = lastActivity + handshakeTimeout
        schedule(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        self.context = nil
    }

    /// The client's request has been read in full: from now on only the idle timeout applies. The pending check
    /// stays; when it fires it just schedules the next one.
    func handshakeCompleted() {
        handshakeDone = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActivity = context.eventLoop.now
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = context.eventLoop.now
        context.write(data, promise: promise)
    }

    private var nextCheck: NIODeadline {
        let idle = lastActivity + idleTimeout
        return handshakeDone ? idle : min(idle, handshakeDeadline)
    }

    private func schedule(_ context: ChannelHandlerContext) {
        // Strong captures (weak ones cost a side table per connection): handlerRemoved cancels the task.
        check = context.eventLoop.assumeIsolated().scheduleTask(deadline: nextCheck) { self.fire() }
    }

    private func fire() {
        guard let context else { return }
        if context.eventLoop.now >= nextCheck {
            context.close(promise: nil)
        } else {
            schedule(context)
        }
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Ends the handshake deadline of this connection, if it has one.
    func completeHandshake() {
        (try? handler(type: TimeoutHandler.self))?.handshakeCompleted()
    }
}
