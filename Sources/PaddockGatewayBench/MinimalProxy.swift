// The floor for a SwiftNIO CONNECT proxy on this machine: what accepting, connecting upstream with a
// ClientBootstrap, answering 200 and splicing cost with no policy, no log, no timeouts and no other protocol. Its
// setup rate tells how much of paddock's gap to the C proxies is paddock's own work and how much is NIO's channel
// machinery. Bench only; never part of the product.
import Foundation
import NIOCore
import NIOPosix

/// Reads one CONNECT head with an IP-literal target (what the load generator sends), connects, answers, splices.
final class MinimalConnectHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private static let established = ByteBuffer(string: "HTTP/1.1 200 Connection established\r\n\r\n")
    private var started = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !started else { return }
        started = true
        let head = String(buffer: unwrapInboundIn(data))
        let parts = head.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, parts[0] == "CONNECT", let colon = parts[1].lastIndex(of: ":"),
            let port = Int(parts[1][parts[1].index(after: colon)...]),
            let address = try? SocketAddress(ipAddress: String(parts[1][..<colon]), port: port)
        else {
            FileHandle.standardError.write(Data("not a CONNECT head: \(head)\n".utf8))
            context.close(promise: nil)
            return
        }
        let client = context.channel
        ClientBootstrap(group: context.eventLoop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .connect(to: address)
            .assumeIsolated()  // the upstream's loop is this handler's own
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    FileHandle.standardError.write(Data("upstream connect failed: \(error)\n".utf8))
                    client.close(promise: nil)
                case .success(let upstream):
                    let (clientSide, upstreamSide) = MinimalGlue.pair()
                    do {
                        try upstream.pipeline.syncOperations.addHandler(upstreamSide)
                        try client.pipeline.syncOperations.addHandler(clientSide)
                        client.writeAndFlush(Self.established, promise: nil)
                        client.pipeline.syncOperations.removeHandler(self, promise: nil)
                    } catch {
                        upstream.close(promise: nil)
                        client.close(promise: nil)
                    }
                }
            }
    }
}

/// Bytes from one side to the other; an end of input half-closes the other side's output (as the issue asks of the
/// gateway), a close closes both. No backpressure: the setup-rate load moves no data.
final class MinimalGlue: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var partner: MinimalGlue?
    private var context: ChannelHandlerContext?

    static func pair() -> (MinimalGlue, MinimalGlue) {
        let first = MinimalGlue()
        let second = MinimalGlue()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            partner?.context?.close(mode: .output, promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        context.fireChannelInactive()
    }
}

func serveMinimal(port: Int) async throws {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup(numberOfThreads: allowedCPUs()))
        .serverChannelOption(.backlog, value: 4096)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
        .childChannelOption(.allowRemoteHalfClosure, value: true)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(MinimalConnectHandler())
            }
        }
        .bind(host: "127.0.0.1", port: port).get()
    print("minimal proxy listening on \(channel.localAddress?.port ?? 0)")
    fflush(nil)
    try await channel.closeFuture.get()
}
