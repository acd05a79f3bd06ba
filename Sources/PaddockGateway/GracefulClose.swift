import NIOCore

extension Channel {
    /// How long a client connection that was answered and shut may still send before it is closed regardless.
    static var lingerTime: TimeAmount { .seconds(2) }

    /// Ends a client connection without losing what was written to it. `written` is the last write (flushed by the
    /// caller); once it is done, and with it every write before it, this side shuts, and the connection closes
    /// fully when the client closes its side too, or after `lingerTime`. Closing at once drops queued writes; and
    /// closing a socket that still holds unread input sends a reset, which discards what the client has not read
    /// yet: the answer. While it lingers, the caller's handler must let reads through and drop what they bring.
    func closeGracefully(after written: EventLoopFuture<Void>) {
        let channel = self
        written.whenComplete { _ in
            // Fails where a half-close is impossible (already closed, an embedded test channel): close outright.
            // With the client's side already shut, NIO makes this a full close, which is right by now.
            channel.close(mode: .output).whenFailure { _ in channel.close(promise: nil) }
            let linger = channel.eventLoop.scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in linger.cancel() }
        }
    }
}
