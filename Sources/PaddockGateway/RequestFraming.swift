import NIOHTTP1

/// How a request's body is framed, decided from the head the gateway's decoder accepted, and said again to the next
/// hop in the one form NIO's encoder writes exactly as the decoder read it: `Transfer-Encoding: chunked` alone, or
/// one `Content-Length`. The decoder is lenient (it takes `Chunked`, `gzip, chunked`, repeated fields) and the
/// encoder is not (it chunks only on an exact `chunked`, and drops TRACE's length); a request passed on with the
/// client's own framing fields can reach the origin framed otherwise, and the origin then reads the body as a
/// request of its own that the gateway never checked, while the next request (the one given the real secret)
/// becomes its body. So anything but the plain forms is refused, and the forwarded head carries only ours.
enum RequestFraming: Equatable {
    case none
    case contentLength(Int)
    case chunked

    struct Refused: Error, Equatable, CustomStringConvertible {
        let description: String
    }

    static func of(_ head: HTTPRequestHead) throws(Refused) -> RequestFraming {
        if head.method == .TRACE {
            throw Refused(description: "TRACE is not forwarded")
        }
        let encodings = head.headers["transfer-encoding"]
        let lengths = head.headers["content-length"]
        if !encodings.isEmpty {
            guard encodings.count == 1, encodings[0] == "chunked" else {
                throw Refused(description: "Transfer-Encoding must be exactly `chunked`")
            }
            guard lengths.isEmpty else {
                throw Refused(description: "a request may not carry both Transfer-Encoding and Content-Length")
            }
            guard head.version == .http1_1 else {
                throw Refused(description: "a chunked body needs HTTP/1.1")
            }
            return .chunked
        }
        guard !lengths.isEmpty else { return .none }
        guard lengths.count == 1, !lengths[0].isEmpty, lengths[0].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let length = Int(lengths[0])
        else {
            throw Refused(description: "Content-Length must be one decimal number")
        }
        return .contentLength(length)
    }

    /// The head as the next hop gets it: the client's framing fields replaced by this framing's own.
    func apply(to head: inout HTTPRequestHead) {
        head.headers.remove(name: "transfer-encoding")
        head.headers.remove(name: "content-length")
        switch self {
        case .none: break
        case .contentLength(let length): head.headers.add(name: "content-length", value: String(length))
        case .chunked: head.headers.add(name: "transfer-encoding", value: "chunked")
        }
    }
}
