import NIOConcurrencyHelpers
import NIOCore
import PaddockCore

/// The bridge's first connection: a request only the gateway answers (204, then close), so the sandbox knows
/// before the agent starts that its way out works, whatever the transport. Not a proxy request: nothing is
/// decided, resolved or logged; the count tells the launcher a probe did arrive.
final class GatewayProbe: Sendable {
    private let answered = NIOLockedValueBox(0)

    static let answer = ByteBuffer(string: "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    var count: Int { answered.withLockedValue { $0 } }

    /// Answers and closes when `buffer` starts with the probe's request line; false leaves it to the proxy.
    func answerIfProbe(_ context: ChannelHandlerContext, _ buffer: ByteBuffer) -> Bool {
        let line = GatewayAccess.probeRequestLine
        guard buffer.readableBytes >= line.utf8.count,
            buffer.getString(at: buffer.readerIndex, length: line.utf8.count) == line
        else { return false }
        answered.withLockedValue { $0 += 1 }
        let written = context.writeAndFlush(NIOAny(Self.answer))
        context.channel.closeGracefully(after: written)
        return true
    }
}
