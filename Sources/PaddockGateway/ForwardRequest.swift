import NIOCore
import NIOHTTP1
import PaddockCore

/// An absolute-URI request rewritten for the origin: origin-form target, `Host` from the URI, hop-by-hop headers
/// and proxy credentials removed.
struct ForwardRequest {
    let target: NetworkTarget
    let head: HTTPRequestHead
    let expectsContinue: Bool
    /// The client asked to switch protocols; the request goes on without `Upgrade` (it is hop by hop).
    let asksUpgrade: Bool

    struct Invalid: Error, CustomStringConvertible {
        let description: String
        /// Well-formed, but something a plain proxy request cannot do (answered 501 rather than 400).
        var isUnsupported = false
    }

    static let webSocketHint =
        "WebSockets do not work through a plain http:// proxy request (the gateway does not pass protocol upgrades). "
        + "Open them through a CONNECT tunnel instead: use wss://, or a client that tunnels ws:// with CONNECT "
        + "through the proxy (HTTPS_PROXY)."

    init(_ original: HTTPRequestHead) throws(Invalid) {
        let framing: RequestFraming
        do {
            framing = try RequestFraming.of(original)
        } catch {
            throw Invalid(description: error.description)
        }
        let uri = original.uri
        let lower = uri.prefix(8).lowercased()
        guard lower.hasPrefix("http://") else {
            if lower.hasPrefix("ws://") || lower.hasPrefix("wss://") {
                throw Invalid(description: Self.webSocketHint, isUnsupported: true)
            }
            if lower.hasPrefix("https://") {
                throw Invalid(description: "https:// URLs go through CONNECT (HTTPS_PROXY), not as plain requests")
            }
            if uri.hasPrefix("/") {
                throw Invalid(description: "this is a proxy: send an absolute URL (http://host/path) or CONNECT")
            }
            throw Invalid(description: "unsupported request target \(uri.prefix(100).debugDescription)")
        }
        let rest = uri.dropFirst(7)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = rest[authorityEnd...]
        if let hash = path.firstIndex(of: "#") { path = path[..<hash] }
        let originForm = path.isEmpty ? "/" : (path.hasPrefix("?") ? "/" + path : String(path))
        do {
            target = try NetworkTarget(authority: String(authority), defaultPort: 80)
        } catch {
            throw Invalid(description: error.description)
        }
        var headers = original.headers
        let upgrades = Self.tokens(headers, "upgrade")
        // A WebSocket handshake without its upgrade is useless to the client; refuse it before the origin sees it.
        if upgrades.contains(where: { $0 == "websocket" || $0.hasPrefix("websocket/") }) {
            throw Invalid(description: Self.webSocketHint, isUnsupported: true)
        }
        asksUpgrade = !upgrades.isEmpty
        expectsContinue = headers["expect"].contains { $0.lowercased() == "100-continue" }
        headers.remove(name: "expect")
        Self.removeHopByHopHeaders(&headers)
        let hostHeader = target.port == 80 ? target.host.authorityForm : target.description
        headers.replaceOrAdd(name: "host", value: hostHeader)
        var forwarded = HTTPRequestHead(
            version: original.version, method: original.method, uri: originForm, headers: headers)
        framing.apply(to: &forwarded)
        head = forwarded
    }

    /// The comma-separated values of every `name` field, trimmed and lower-cased.
    static func tokens(_ headers: HTTPHeaders, _ name: String) -> [String] {
        headers[name].flatMap { $0.split(separator: ",") }.map { String($0).trimmingCharacters(in: " \t").lowercased() }
    }

    /// RFC 9110 §7.6.1: `Connection` and the fields it names, plus the classic hop-by-hop set. The framing fields
    /// stay: the codecs on both sides frame the body by them.
    static func removeHopByHopHeaders(_ headers: inout HTTPHeaders) {
        let named = tokens(headers, "connection")
        for name in named where name != "content-length" && name != "transfer-encoding" {
            headers.remove(name: name)
        }
        for name in [
            "connection", "proxy-connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "te",
            "upgrade",
        ] {
            headers.remove(name: name)
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
