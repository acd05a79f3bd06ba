import NIOCore
import NIOEmbedded
import NIOHTTP1

@testable import PaddockCore
@testable import PaddockGateway

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a client sends the gateway, as inbound bytes on the real pipeline (protocol detection, the HTTP proxy and
/// SOCKS5 handlers) on an EmbeddedChannel. The decision is made up from the target (odd ports are let through,
/// even ones refused in one of four ways), and let-through connections get an EmbeddedChannel as their upstream.
///
/// Each input is sent twice: in one read and one byte per read. Both runs must end closed or with well-formed
/// answers, lose no byte the client sent behind its request, and agree on the requests they pass on.
enum GatewayFuzz {
    static func run(_ bytes: [UInt8]) {
        let whole = Conversation(bytes, chunked: false).requests.filter { !$0.hasPrefix("invalid") }
        let split = Conversation(bytes, chunked: true).requests.filter { !$0.hasPrefix("invalid") }
        // When an error or a refusal closes the connection depends on timing; what was asked for before does not.
        invariant(
            whole.starts(with: split) || split.starts(with: whole),
            "one read asked for \(whole), one byte per read for \(split)")
    }

    /// What the origin side sends first on a tunnel, and as each forwarded response.
    static let originHello: [UInt8] = Array("origin says hello".utf8)
    static func originResponse(to method: HTTPMethod) -> String {
        "HTTP/1.1 200 OK\r\nX-Origin: fuzz\r\nContent-Length: 2\r\n\r\n" + (method == .HEAD ? "" : "ok")
    }
}

/// One run of the pipeline over the input; checks its own invariants as it ends.
struct Conversation {
    /// The requests handed to the decision, in order, as text (`invalid` ones without their wording).
    private(set) var requests: [String] = []

    private let input: [UInt8]
    private let channel: EmbeddedChannel
    private let decisions: FuzzDecisionHandler
    private var output: [UInt8] = []
    /// The methods of the requests let through to an origin, in order: a HEAD's response has no body.
    private var forwardedMethods: [HTTPMethod] = []
    /// Each upstream with the target it was opened for and the bytes it was sent.
    private var upstreams: [(target: NetworkTarget, channel: EmbeddedChannel, spy: UpstreamSpy?, received: [UInt8])] =
        []

    init(_ input: [UInt8], chunked: Bool) {
        self.input = input
        decisions = FuzzDecisionHandler()
        channel = EmbeddedChannel(
            handlers: [
                TimeoutHandler(handshakeTimeout: .seconds(30), idleTimeout: .minutes(15)), ProtocolDetector(),
                decisions,
            ])
        do {
            // Connected, as an accepted socket is: the handlers ignore reads on an inactive channel.
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        } catch {
            invariant(false, "EmbeddedChannel did not connect: \(error)")
        }
        let chunks: [ArraySlice<UInt8>] =
            chunked ? input.indices.map { input[$0...$0] } : (input.isEmpty ? [] : [input[...]])
        for chunk in chunks where channel.isActive {
            _ = try? channel.writeInbound(ByteBuffer(bytes: chunk))
            step()
        }
        // The client stops; the handshake deadline passes; the client leaves.
        channel.embeddedEventLoop.advanceTime(by: .seconds(31))
        step()
        finish()
    }

    /// Answers what the decision received, plays the origins, collects what everyone wrote.
    private mutating func step() {
        for _ in 0..<8 {
            channel.embeddedEventLoop.run()
            var progressed = false
            while let event = decisions.pending.first {
                decisions.pending.removeFirst()
                progressed = true
                answer(event)
            }
            for index in upstreams.indices {
                let upstream = upstreams[index]
                while let part = try? upstream.channel.readOutbound(as: IOData.self) {
                    guard case .byteBuffer(let buffer) = part else {
                        invariant(false, "a file region was written to an upstream")
                        return
                    }
                    upstreams[index].received += buffer.readableBytesView
                    progressed = true
                }
                if let spy = upstream.spy, !spy.toAnswer.isEmpty, upstream.channel.isActive {
                    let method = spy.toAnswer.removeFirst()
                    _ = try? upstream.channel.writeInbound(ByteBuffer(string: GatewayFuzz.originResponse(to: method)))
                    progressed = true
                }
            }
            while let part = try? channel.readOutbound(as: IOData.self) {
                guard case .byteBuffer(let buffer) = part else {
                    invariant(false, "a file region was written to the client")
                    return
                }
                output += buffer.readableBytesView
                progressed = true
            }
            if !progressed { return }
        }
    }

    private mutating func answer(_ event: ProxyEvent) {
        switch event {
        case .tunnel(let proto, let target):
            requests.append("tunnel \(proto) \(target)")
            if let refusal = Self.refusal(for: target) {
                decisions.send(.refuse(refusal))
                return
            }
            let upstream = makeUpstream(target, http: false)
            decisions.send(.startTunnel(upstream: upstream, completion: TunnelCompletion(eventLoop: channel.eventLoop)))
            channel.embeddedEventLoop.run()
            _ = try? upstream.writeInbound(ByteBuffer(bytes: GatewayFuzz.originHello))
        case .forward(let target, let head):
            requests.append("forward \(target) \(head.method) \(head.uri)")
            if let refusal = Self.refusal(for: target) {
                decisions.send(.refuse(refusal))
                return
            }
            forwardedMethods.append(head.method)
            decisions.send(.forward(upstream: makeUpstream(target, http: true)))
        case .exchangeFinished:
            break
        case .invalid(let proto, _, _):
            requests.append("invalid \(proto.map { "\($0)" } ?? "-")")
        }
    }

    /// Even ports are refused, each residue mod 8 its own way.
    static func refusal(for target: NetworkTarget) -> Refusal? {
        switch target.port % 8 {
        case 0: return .denied(target, NetworkPolicy.offline.decide(target))
        case 2: return .unresolvable(target, "no such name")
        case 4: return .connectFailed(target, "connection refused")
        case 6: return .connectTimedOut(target)
        default: return nil
        }
    }

    private mutating func makeUpstream(_ target: NetworkTarget, http: Bool) -> EmbeddedChannel {
        let upstream = EmbeddedChannel(loop: channel.embeddedEventLoop)
        var spy: UpstreamSpy?
        do {
            try upstream.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
            if http {
                let made = UpstreamSpy()
                try upstream.pipeline.syncOperations.addHTTPClientHandlers()
                try upstream.pipeline.syncOperations.addHandlers([made, UpstreamHTTPHandler()])
                spy = made
            }
        } catch {
            invariant(false, "could not set up an upstream: \(error)")
        }
        upstreams.append((target, upstream, spy, []))
        return upstream
    }

    private mutating func finish() {
        let closedByGateway = !channel.isActive
        if getenv("PADDOCK_FUZZ_DEBUG") != nil {
            printError(
                "requests: \(requests)\nclosed by the gateway: \(closedByGateway)\noutput: \(String(decoding: output, as: UTF8.self).debugDescription)"
            )
            for upstream in upstreams {
                printError(
                    "upstream \(upstream.target): \(String(decoding: upstream.received, as: UTF8.self).debugDescription)"
                )
            }
        }
        // Past the handshake deadline, only a connection that got as far as a request may still be open.
        invariant(closedByGateway || !requests.isEmpty, "no request after the handshake deadline, yet still open")
        // The client leaves; the teardown must not trap. What is written after this nobody reads.
        channel.close(promise: nil)
        channel.embeddedEventLoop.run()
        for upstream in upstreams { upstream.channel.close(promise: nil) }
        channel.embeddedEventLoop.run()
        _ = try? channel.finish(acceptAlreadyClosed: true)
        for upstream in upstreams { _ = try? upstream.channel.finish(acceptAlreadyClosed: true) }
        checkOutput(closedByGateway: closedByGateway)
    }

    // MARK: What the client saw

    private func checkOutput(closedByGateway: Bool) {
        guard let first = input.first else {
            invariant(output.isEmpty, "an empty connection was answered")
            return
        }
        switch first {
        case 0x05: checkSOCKS(closedByGateway: closedByGateway)
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): checkHTTP(closedByGateway: closedByGateway)
        default:
            invariant(output.isEmpty && closedByGateway, "an unknown protocol was answered with \(output) or left open")
            invariant(requests == ["invalid -"], "an unknown protocol became \(requests)")
        }
    }

    /// Bytes the client sent behind its request must reach the tunnel's upstream, all and in order. With no
    /// `requestLength` (HTTP, where plain requests may come before the CONNECT), they must be all of the input behind
    /// some head's blank line.
    private func checkTunnelBytes(requestLength: Int?) {
        guard let tunnel = upstreams.first(where: { $0.spy == nil }) else { return }
        let received = tunnel.received
        let start = requestLength.map { min($0, input.count) } ?? (input.count - received.count)
        let expected = Array(input[max(start, 0)...])
        invariant(
            received == expected
                && (requestLength != nil || input[..<max(start, 0)].suffix(4).elementsEqual([13, 10, 13, 10])),
            "the tunnel's upstream got \(received.count) bytes \(String(decoding: received.prefix(64), as: UTF8.self).debugDescription), the input holds \(String(decoding: expected.prefix(64), as: UTF8.self).debugDescription) from byte \(start)"
        )
    }

    private func checkSOCKS(closedByGateway: Bool) {
        var reader = ByteReader(output)
        guard let version = reader.take(), let method = reader.take() else {
            invariant(reader.remaining.isEmpty, "a partial SOCKS method selection: \(output)")
            return
        }
        invariant(version == 5 && (method == 0 || method == 0xFF), "a SOCKS method selection of \(output.prefix(2))")
        guard !reader.remaining.isEmpty else { return }
        guard let replyVersion = reader.take(), let reply = reader.take(), let reserved = reader.take(),
            let type = reader.take()
        else {
            invariant(false, "a partial SOCKS reply: \(output)")
            return
        }
        invariant(replyVersion == 5 && reply <= 8 && reserved == 0, "a malformed SOCKS reply: \(output)")
        let addressLength: Int?
        switch type {
        case 1: addressLength = 4
        case 4: addressLength = 16
        case 3: addressLength = reader.take().map(Int.init)
        default: addressLength = nil
        }
        guard let addressLength, reader.skip(addressLength + 2) else {
            invariant(false, "a SOCKS reply with a malformed address: \(output)")
            return
        }
        if reply == 0 {
            invariant(
                reader.remaining.elementsEqual(GatewayFuzz.originHello),
                "the origin's bytes did not reach the SOCKS client: \(reader.remaining)")
            // Greeting (2 + its methods), request (4 + address + port).
            let greeting = 2 + Int(input.count > 1 ? input[1] : 0)
            let request: Int
            switch input.count > greeting + 3 ? input[greeting + 3] : 0 {
            case 1: request = 10
            case 4: request = 22
            default: request = 7 + Int(input.count > greeting + 4 ? input[greeting + 4] : 0)
            }
            checkTunnelBytes(requestLength: greeting + request)
        } else {
            invariant(reader.remaining.isEmpty, "bytes after a SOCKS refusal: \(reader.remaining)")
            invariant(closedByGateway, "a SOCKS refusal left the connection open")
        }
    }

    /// A sequence of responses: the gateway's own (only its own headers) or the origin's (relayed), ending after a
    /// refusal, the origin's last one, or a tunnel's 200 followed by the origin's bytes.
    private func checkHTTP(closedByGateway: Bool) {
        var reader = ByteReader(output)
        var methods = forwardedMethods[...]
        var answered = 0
        let ownHeaders: Set<String> = [
            "x-paddock-denied", "x-paddock-rule", "x-paddock-allow-command", "content-type", "content-length",
            "connection",
        ]
        let originHeaders: Set<String> = ["x-origin", "content-length", "connection"]
        while !reader.remaining.isEmpty {
            guard let head = reader.takeHead() else {
                invariant(
                    false,
                    "an incomplete response head: \(String(decoding: reader.remaining.prefix(200), as: UTF8.self).debugDescription)"
                )
                return
            }
            var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
            let status = lines.removeFirst()
            let statusParts = status.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
            guard statusParts.count == 3, statusParts[0] == "HTTP/1.1", statusParts[1].count == 3,
                let code = Int(statusParts[1]), (100...599).contains(code)
            else {
                invariant(false, "a malformed status line \(status.debugDescription)")
                return
            }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":"), line.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                    invariant(false, "a malformed header line \(line.debugDescription)")
                    return
                }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingPrefix(" ").description
            }
            if code == 100 { continue }
            answered += 1
            if code == 200, statusParts[2] == "Connection established" {
                invariant(headers.isEmpty, "a tunnel's 200 carries headers: \(headers)")
                invariant(
                    reader.remaining.elementsEqual(GatewayFuzz.originHello),
                    "the origin's bytes did not reach the CONNECT client")
                checkTunnelBytes(requestLength: nil)
                return
            }
            let isOrigin = headers["x-origin"] != nil
            let unexpected = Set(headers.keys).subtracting(isOrigin ? originHeaders : ownHeaders)
            invariant(unexpected.isEmpty, "response \(code) carries unexpected headers \(unexpected.sorted())")
            let isHEAD = isOrigin && methods.popFirst() == .HEAD
            guard let length = headers["content-length"].flatMap({ Int($0) }), reader.skip(isHEAD ? 0 : length) else {
                invariant(false, "response \(code) without a readable body: \(headers)")
                return
            }
            if !isOrigin {
                invariant(headers["connection"] == "close", "refusal \(code) does not close")
                invariant(reader.remaining.isEmpty, "bytes after refusal \(code)")
                invariant(closedByGateway, "refusal \(code) left the connection open")
            }
        }
        // A connection left open owes the client nothing: every request it sent in full has its answer.
        if !closedByGateway {
            let complete = Self.completeRequests(input)
            invariant(
                answered == complete, "the connection is open with \(answered) answers to \(complete) complete requests"
            )
        }
    }

    /// How many requests the input holds in full, as a fresh HTTP decoder reads it.
    static func completeRequests(_ input: [UInt8]) -> Int {
        let decoder = EmbeddedChannel(
            handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
        defer { _ = try? decoder.finish(acceptAlreadyClosed: true) }
        _ = try? decoder.writeInbound(ByteBuffer(bytes: input))
        var count = 0
        while let part = try? decoder.readInbound(as: HTTPServerRequestPart.self) {
            if case .end = part { count += 1 }
        }
        return count
    }

    /// Where the request head ends (after the first blank line), or the whole input.
    static func headLength(_ input: [UInt8]) -> Int {
        let blank: [UInt8] = [13, 10, 13, 10]
        guard input.count >= 4 else { return input.count }
        for index in 0...(input.count - 4) where input[index..<index + 4].elementsEqual(blank) {
            return index + 4
        }
        return input.count
    }
}

/// The last handler, where the gateway has ProxyDecisionHandler: keeps requests for the fuzzer to answer. It reads
/// its input as `ProxyEvent` the same way, so anything else reaching the end of the pipeline traps here too.
final class FuzzDecisionHandler: ChannelDuplexHandler {
    typealias InboundIn = ProxyEvent
    typealias OutboundIn = Never
    typealias OutboundOut = ProxyCommand

    var pending: [ProxyEvent] = []
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.append(unwrapInboundIn(data))
    }

    func send(_ command: ProxyCommand) {
        guard let context, context.channel.isActive else {
            command.release()
            return
        }
        context.writeAndFlush(wrapOutboundOut(command), promise: nil)
    }
}

/// Notes the requests written to an origin, so the fuzzer's origin answers each one once it is complete.
final class UpstreamSpy: ChannelOutboundHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private var method: HTTPMethod?
    /// Complete requests not answered yet, by method.
    var toAnswer: [HTTPMethod] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head): method = head.method
        case .body: break
        case .end: toAnswer.append(method ?? .GET)
        }
        context.write(data, promise: promise)
    }
}

struct ByteReader {
    private(set) var remaining: ArraySlice<UInt8>

    init(_ bytes: [UInt8]) {
        remaining = bytes[...]
    }

    mutating func take() -> UInt8? {
        remaining.popFirst()
    }

    mutating func skip(_ count: Int) -> Bool {
        guard remaining.count >= count else { return false }
        remaining = remaining.dropFirst(count)
        return true
    }

    /// The text up to a blank line, which is consumed too.
    mutating func takeHead() -> String? {
        let bytes = Array(remaining)
        let length = Conversation.headLength(bytes)
        guard length >= 4, bytes[length - 4..<length].elementsEqual([13, 10, 13, 10]) else { return nil }
        remaining = remaining.dropFirst(length)
        return String(decoding: bytes[..<(length - 4)], as: UTF8.self)
    }
}
