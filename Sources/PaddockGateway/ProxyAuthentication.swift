import NIOCore
import PaddockCore

/// What the first request head on a connection says about its credential.
enum HTTPCredentialVerdict: Equatable {
    /// The head is not complete yet.
    case needMore
    case accepted
    /// No `Proxy-Authorization` header (or not one this gateway understands).
    case missing
    case wrong
    /// The head is over the limit, or carries the header twice.
    case malformed(String)

    /// Looks only at header lines up to the blank line; the request itself is left to the proxy handlers, which
    /// also strip the header before anything goes upstream.
    static func check(_ bytes: ByteBuffer, credential: ProxyCredential, limit: Int = HTTPConnectHead.maxLength) -> Self
    {
        let view = Array(bytes.readableBytesView.prefix(limit + 4))
        guard
            let end = (0..<max(0, view.count - 3)).first(where: {
                view[$0] == 13 && view[$0 + 1] == 10 && view[$0 + 2] == 13 && view[$0 + 3] == 10
            })
        else {
            return bytes.readableBytes > limit ? .malformed("the request head is over \(limit) bytes") : .needMore
        }
        let head = String(decoding: view[..<end], as: UTF8.self)
        var values: [Substring] = []
        for line in head.split(separator: "\r\n", omittingEmptySubsequences: false).dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            if line[..<colon].lowercased() == "proxy-authorization" {
                values.append(line[line.index(after: colon)...])
            }
        }
        guard values.count <= 1 else { return .malformed("the request carries Proxy-Authorization twice") }
        guard let value = values.first else { return .missing }
        return credential.accepts(authorization: value) ? .accepted : .wrong
    }
}

/// RFC 1929 username/password sub-negotiation, as NIOSOCKS hands it over (raw bytes, possibly in pieces).
enum SOCKSCredentialVerdict: Equatable {
    case needMore
    case accepted
    case wrong
    case malformed(String)

    static func check(_ bytes: ByteBuffer, credential: ProxyCredential) -> Self {
        let view = Array(bytes.readableBytesView)
        guard let version = view.first else { return .needMore }
        guard version == 0x01 else { return .malformed("username/password version \(version)") }
        guard view.count >= 2 else { return .needMore }
        let userLength = Int(view[1])
        guard view.count >= 2 + userLength + 1 else { return .needMore }
        let passwordLength = Int(view[2 + userLength])
        let total = 3 + userLength + passwordLength
        guard view.count >= total else { return .needMore }
        // Bytes behind the sub-negotiation would be a request sent before the answer: NIOSOCKS has no way to
        // take them back, so the connection ends rather than guess.
        guard view.count == total else { return .malformed("bytes after the username/password sub-negotiation") }
        let user = Array(view[2..<(2 + userLength)])
        let password = Array(view[(3 + userLength)..<total])
        return credential.accepts(user: user, password: password) ? .accepted : .wrong
    }

    /// RFC 1929's reply: version 1, status 0 for success.
    static func reply(accepted: Bool) -> [UInt8] { [0x01, accepted ? 0x00 : 0x01] }
}

/// First on every connection of a listener that wants a credential (the loopback one of the relay transport).
/// HTTP clients must send the session's `Proxy-Authorization` with their first request; the head is held until it
/// is complete, checked, and then handed on unchanged in one piece (so `ProtocolDetector` still sees a whole
/// CONNECT). SOCKS5 is passed on: `SOCKSProxyHandler` asks for username/password itself. A refusal is logged and
/// answered with 407, never with the expected value.
final class ProxyAuthenticationGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let credential: ProxyCredential
    private let recorder: GatewayRecorder
    private var buffered: ByteBuffer?
    private var done = false

    static let challenge = ByteBuffer(
        string: "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"paddock\"\r\n"
            + "Content-Type: text/plain\r\nContent-Length: 62\r\nConnection: close\r\n\r\n"
            + "paddock: this gateway port wants the session's proxy secret.\r\n")

    init(credential: ProxyCredential, recorder: GatewayRecorder) {
        self.credential = credential
        self.recorder = recorder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var incoming = unwrapInboundIn(data)
        if buffered == nil {
            buffered = incoming
        } else {
            buffered?.writeBuffer(&incoming)
        }
        guard let bytes = buffered, let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return }
        // SOCKS5 authenticates in its own handler; anything that is not an HTTP request line is the
        // detector's to refuse.
        guard (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first) else {
            pass(context, bytes)
            return
        }
        switch HTTPCredentialVerdict.check(bytes, credential: credential) {
        case .needMore:
            return
        case .accepted:
            pass(context, bytes)
        case .missing:
            refuse(context, bytes, reason: "no proxy credential (Proxy-Authorization) on the gateway's loopback port")
        case .wrong:
            refuse(context, bytes, reason: "a proxy credential that is not this session's")
        case .malformed(let why):
            refuse(context, bytes, reason: why)
        }
    }

    private func pass(_ context: ChannelHandlerContext, _ bytes: ByteBuffer) {
        done = true
        buffered = nil
        context.fireChannelRead(wrapInboundOut(bytes))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    private func refuse(_ context: ChannelHandlerContext, _ bytes: ByteBuffer, reason: String) {
        done = true
        buffered = nil
        let line =
            bytes.getString(at: bytes.readerIndex, length: min(bytes.readableBytes, 256))?
            .split(separator: "\r\n", maxSplits: 1).first.map(String.init) ?? "HTTP request"
        recorder.recordInvalid(nil, request: line, reason: reason)
        let written = context.writeAndFlush(NIOAny(Self.challenge))
        context.channel.closeGracefully(after: written)
        context.read()
    }
}
