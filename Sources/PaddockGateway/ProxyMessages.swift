import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import PaddockCore

/// The wire protocol a client spoke, as the log names it.
enum ProxyProtocol: String, Sendable {
    case connect
    case http
    case socks5
}

/// What the protocol handlers hand to `ProxyDecisionHandler` (on the same event loop): requests to decide, and
/// finished exchanges.
enum ProxyEvent: Sendable {
    /// HTTP CONNECT or SOCKS5 CONNECT to a canonical target.
    case tunnel(ProxyProtocol, NetworkTarget)
    /// A plain HTTP request (absolute URI) with the head already rewritten for the origin.
    case forward(NetworkTarget, HTTPRequestHead)
    /// The response to the last forwarded request has been passed on, or, with an `error`, the exchange was cut
    /// short. `reusable` says whether the upstream connection may carry another request.
    case exchangeFinished(bytesUp: UInt64, bytesDown: UInt64, reusable: Bool, error: String?)
    /// The client sent something unreadable; the handler has already answered and is closing.
    case invalid(ProxyProtocol?, request: String, reason: String)
}

/// What `ProxyDecisionHandler` tells the protocol handler to do.
enum ProxyCommand: Sendable {
    /// Answer with a refusal and close.
    case refuse(Refusal)
    /// The upstream is connected: answer success and splice the two connections.
    case startTunnel(upstream: Channel, completion: TunnelCompletion)
    /// The upstream for the pending plain-HTTP request is ready (its pipeline has the HTTP client codec).
    case forward(upstream: Channel)
}

extension ProxyCommand {
    /// Closes what the command carries, for a client that can no longer use it.
    func release() {
        switch self {
        case .startTunnel(let upstream, let completion):
            upstream.close(promise: nil)
            completion.finish(TunnelBytes(up: 0, down: 0))
        case .forward(let upstream):
            upstream.close(promise: nil)
        case .refuse:
            break
        }
    }
}

/// Why a request is refused, in terms both protocols can express.
enum Refusal: Sendable {
    case denied(NetworkTarget, PolicyDecision)
    case badRequest(String)
    case unresolvable(NetworkTarget, String)
    case connectFailed(NetworkTarget?, String)
    case connectTimedOut(NetworkTarget)
    case overloaded
    /// The request line is over `HTTPHeadLimit`.
    case uriTooLong
    /// The header section is over `HTTPHeadLimit`.
    case headersTooLarge
    /// Well-formed, but beyond what the gateway does (the reason says what to do instead).
    case notSupported(String)
}

/// Byte counts of a finished tunnel.
struct TunnelBytes: Sendable {
    var up: UInt64
    var down: UInt64
}

/// Completes a tunnel's promise exactly once, whichever of the glue or a failed hand-over gets there first.
final class TunnelCompletion: Sendable {
    private let promise: EventLoopPromise<TunnelBytes>
    private let done = NIOLockedValueBox(false)

    init(eventLoop: EventLoop) {
        promise = eventLoop.makePromise()
    }

    var futureResult: EventLoopFuture<TunnelBytes> { promise.futureResult }

    func finish(_ bytes: TunnelBytes) {
        let first = done.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if first { promise.succeed(bytes) }
    }
}
