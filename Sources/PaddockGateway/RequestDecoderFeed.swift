import NIOCore
import NIOHTTP1

/// The most of a request head the gateway reads: one line or field, and all fields together.
enum HTTPHeadLimit {
    static let bytes = 80 * 1024
    static let description = "80 KiB"

    static var decoder: NIOHTTPDecoderLimitConfiguration {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = bytes
        limits.maxHeaderListSize = bytes
        return limits
    }
}

/// Passes the client's bytes to the HTTP request decoder, for two things the decoder cannot do itself:
/// - It reports a request line and a header section over the limit as the same error. This remembers where in a
///   line the decoder is, so the answer can say which to shorten (414 or 431).
/// - Once the connection is ending, what the client still sends is dropped here, unparsed: behind an upgrade or a
///   CONNECT the decoder stops parsing and would keep every byte.
final class RequestDecoderFeed: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The first bytes and the length of the line the decoder is in: everything since the last LF it was given.
    private var linePrefix: [UInt8] = []
    private var lineLength = 0
    /// The buffer being decoded right now; an overflow is reported while it is.
    private var decoding: ByteBuffer?
    private var discarding = false

    private static let prefixLength = 16

    func discardFromNowOn() {
        discarding = true
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discarding else { return }
        let buffer = unwrapInboundIn(data)
        decoding = buffer
        context.fireChannelRead(data)
        decoding = nil
        advance(over: buffer)
    }

    /// Whether the decoder's overflow, reported during the current read, is in a request line (`METHOD SP …`):
    /// the first line longer than the limit, counting from where the previous read left off, tells.
    func overflowIsInRequestLine() -> Bool {
        var prefix = linePrefix
        var length = lineLength
        guard let buffer = decoding else { return false }
        for byte in buffer.readableBytesView {
            if byte == UInt8(ascii: "\n") {
                prefix.removeAll(keepingCapacity: true)
                length = 0
                continue
            }
            if prefix.count < Self.prefixLength { prefix.append(byte) }
            length += 1
            if length > HTTPHeadLimit.bytes { return Self.isRequestLine(prefix) }
        }
        return false
    }

    private func advance(over buffer: ByteBuffer) {
        let view = buffer.readableBytesView
        if let newline = view.lastIndex(of: UInt8(ascii: "\n")) {
            let rest = view[view.index(after: newline)...]
            linePrefix = Array(rest.prefix(Self.prefixLength))
            lineLength = rest.count
        } else {
            linePrefix += view.prefix(Self.prefixLength - linePrefix.count)
            lineLength += view.count
        }
    }

    /// A request line starts with a method token and a space; a header line has a colon after its name.
    static func isRequestLine(_ prefix: [UInt8]) -> Bool {
        guard let end = prefix.firstIndex(where: { !HTTPConnectHead.isTokenByte($0) }), end > 0 else { return false }
        return prefix[end] == UInt8(ascii: " ")
    }
}
