import NIOCore
import NIOHTTP1
import PaddockCore

/// The common case of the HTTP proxy protocol without NIOHTTP1: a CONNECT whose whole head arrived in the first
/// read and is plainly well-formed. Adding the HTTP decoder and encoder to every connection, parsing with llhttp
/// and removing both again before splicing cost more than the rest of a CONNECT's user-space work. Anything
/// unusual (other methods, HTTP/1.0, a split head, folded or non-ASCII headers, a body length) is left to
/// `HTTPProxyHandler`, so the answers it gives stay the only ones.
struct HTTPConnectHead: Equatable {
    /// The request target exactly as sent; `NetworkTarget(authority:)` still canonicalises and checks it.
    var authority: String
    /// Bytes from the start of the request to the end of the blank line.
    var length: Int

    static let maxLength = 8192

    /// Nil when the bytes are not a complete, plainly well-formed `CONNECT host:port HTTP/1.1` head.
    static func parse(_ buffer: ByteBuffer) -> HTTPConnectHead? {
        buffer.withUnsafeReadableBytes { bytes in parse(bytes) }
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) -> HTTPConnectHead? {
        let method: StaticString = "CONNECT "
        let version: StaticString = " HTTP/1.1\r\n"
        let end = min(bytes.count, maxLength)
        guard end > method.utf8CodeUnitCount, matches(bytes, at: 0, method) else { return nil }
        var index = method.utf8CodeUnitCount
        let authorityStart = index
        while index < end, isAuthorityByte(bytes[index]) { index += 1 }
        let authorityEnd = index
        guard authorityEnd > authorityStart, matches(bytes, at: index, version) else { return nil }
        index += version.utf8CodeUnitCount
        // Header lines: a token, a colon, visible ASCII, spaces or tabs, CRLF; then the blank line.
        while true {
            guard index + 1 < end else { return nil }
            if bytes[index] == 13 {
                guard bytes[index + 1] == 10 else { return nil }
                index += 2
                break
            }
            let nameStart = index
            while index < end, isTokenByte(bytes[index]) { index += 1 }
            guard index > nameStart, index < end, bytes[index] == UInt8(ascii: ":") else { return nil }
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<index])
            // Framing headers on a CONNECT are odd enough to deserve the full parser's judgement.
            if equalsIgnoringCase(name, "content-length") || equalsIgnoringCase(name, "transfer-encoding") {
                return nil
            }
            index += 1
            while index < end, bytes[index] == 9 || (bytes[index] >= 0x20 && bytes[index] < 0x7F) { index += 1 }
            guard index + 1 < end, bytes[index] == 13, bytes[index + 1] == 10 else { return nil }
            index += 2
        }
        let authority = String(
            decoding: UnsafeRawBufferPointer(rebasing: bytes[authorityStart..<authorityEnd]), as: UTF8.self)
        return HTTPConnectHead(authority: authority, length: index)
    }

    private static func matches(_ bytes: UnsafeRawBufferPointer, at offset: Int, _ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard offset + count <= bytes.count else { return false }
        return text.withUTF8Buffer { expected in
            (0..<count).allSatisfy { bytes[offset + $0] == expected[$0] }
        }
    }

    private static func equalsIgnoringCase(_ bytes: UnsafeRawBufferPointer, _ lowercase: StaticString) -> Bool {
        guard bytes.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            (0..<bytes.count).allSatisfy { bytes[$0] | 0x20 == expected[$0] }
        }
    }

    /// Names, IPv4 and bracketed IPv6 literals, and the port: nothing that needs decoding.
    private static func isAuthorityByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: ":"),
            UInt8(ascii: "["), UInt8(ascii: "]"):
            return true
        default:
            return false
        }
    }

    /// RFC 9110 `tchar`.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }
}

/// Carries a CONNECT read by `HTTPConnectHead` to the decision and answers it: the same events and commands as
/// `HTTPProxyHandler` for a CONNECT, with the responses written as bytes. Reads wait until the tunnel is spliced;
/// bytes the client sent early (a TLS ClientHello behind the head) go to the upstream first.
final class HTTPConnectHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ProxyEvent
    typealias OutboundIn = ProxyCommand
    typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingTunnel
        case closing
    }

    private var state = State.awaitingTunnel
    private var context: ChannelHandlerContext?
    private var early: ByteBuffer?

    private static let established = ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n")

    init(early: ByteBuffer?) {
        self.early = early
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Hands the request to the decision; called once, right after the handler is added.
    func start(_ target: NetworkTarget) {
        guard let context else { return }
        context.pipeline.syncOperations.completeHandshake()
        context.fireChannelRead(wrapInboundOut(.tunnel(.connect, target)))
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Bytes that were already read in the same batch as the head; kept for the upstream.
        guard case .awaitingTunnel = state else { return }
        var buffer = unwrapInboundIn(data)
        if early == nil {
            early = buffer
        } else {
            early?.writeBuffer(&buffer)
        }
    }

    func read(context: ChannelHandlerContext) {
        // Nothing more is read until the tunnel exists (the splice asks for the next read itself), except to drain
        // a refused client (`channelRead` drops it).
        if case .closing = state { context.read() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closing
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        state = .closing
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch (state, unwrapOutboundIn(data)) {
        case (.awaitingTunnel, .refuse(let refusal)):
            state = .closing
            let (head, body) = HTTPRefusal.response(for: refusal)
            let written = context.writeAndFlush(wrapOutboundOut(Self.serialize(head, body, context.channel.allocator)))
            // Bytes the client sent behind its CONNECT are still unread: drain them, or the close resets the answer.
            context.channel.closeGracefully(after: written)
            early = nil
            context.read()
        case (.awaitingTunnel, .startTunnel(let upstream, let completion)):
            state = .closing
            context.writeAndFlush(wrapOutboundOut(Self.established), promise: nil)
            let early = self.early
            self.early = nil
            do {
                try TunnelSplice.splice(
                    client: context, upstream: upstream, completion: completion, early: early, thenRemoving: [])
            } catch {
                upstream.close(promise: nil)
                completion.finish(TunnelBytes(up: 0, down: 0))
                context.close(promise: nil)
            }
        case (_, let command):
            command.release()
        }
        promise?.succeed(())
    }

    /// What `HTTPResponseEncoder` writes for a head without automatic framing headers, then the body.
    static func serialize(_ head: HTTPResponseHead, _ body: ByteBuffer, _ allocator: ByteBufferAllocator) -> ByteBuffer
    {
        var bytes = allocator.buffer(capacity: 256 + body.readableBytes)
        bytes.writeString(
            "HTTP/\(head.version.major).\(head.version.minor) \(head.status.code) \(head.status.reasonPhrase)\r\n")
        for (name, value) in head.headers {
            bytes.writeString(name)
            bytes.writeString(": ")
            bytes.writeString(value)
            bytes.writeString("\r\n")
        }
        bytes.writeString("\r\n")
        bytes.writeImmutableBuffer(body)
        return bytes
    }
}
