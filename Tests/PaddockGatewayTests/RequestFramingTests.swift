import NIOHTTP1
import Testing

@testable import PaddockGateway

/// What the gateway forwards is framed exactly as its decoder read it, or not forwarded at all.
@Suite("Request framing, restated for the next hop")
struct RequestFramingTests {
    static func head(_ method: HTTPMethod, _ version: HTTPVersion, _ fields: [(String, String)]) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: method, uri: "http://origin.test/x", headers: HTTPHeaders(fields))
    }

    static func head(_ fields: [(String, String)]) -> HTTPRequestHead { head(.GET, .http1_1, fields) }

    @Test(arguments: [
        ([("Transfer-Encoding", "chunked")], RequestFraming.chunked),
        ([("Content-Length", "12")], .contentLength(12)),
        ([], .none),
        ([("Content-Length", "0")], .contentLength(0)),
    ])
    func thePlainFormsPass(fields: [(String, String)], framing: RequestFraming) throws {
        #expect(try RequestFraming.of(Self.head(fields)) == framing)
    }

    @Test(arguments: [
        [("Transfer-Encoding", "Chunked")],
        [("Transfer-Encoding", "gzip, chunked")],
        [("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "identity")],
        [("Transfer-Encoding", "chunked ")],
        [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
        [("Content-Length", "5"), ("Content-Length", "5")],
        [("Content-Length", "+5")],
        [("Content-Length", "5, 5")],
        [("Content-Length", "0x5")],
    ])
    func anythingElseIsRefused(fields: [(String, String)]) {
        #expect(throws: RequestFraming.Refused.self) { try RequestFraming.of(Self.head(fields)) }
    }

    @Test func traceAndChunkedHTTP10AreRefused() {
        #expect(throws: RequestFraming.Refused.self) { try RequestFraming.of(Self.head(.TRACE, .http1_1, [])) }
        #expect(throws: RequestFraming.Refused.self) {
            try RequestFraming.of(Self.head(.POST, .http1_0, [("Transfer-Encoding", "chunked")]))
        }
    }

    @Test func theForwardedHeadCarriesOnlyTheGatewaysFraming() throws {
        var head = Self.head([("Content-Length", "7"), ("X-Other", "kept")])
        try RequestFraming.of(head).apply(to: &head)
        #expect(head.headers["content-length"] == ["7"])
        #expect(head.headers["x-other"] == ["kept"])
        var chunked = Self.head([("Transfer-Encoding", "chunked")])
        try RequestFraming.of(chunked).apply(to: &chunked)
        #expect(chunked.headers["transfer-encoding"] == ["chunked"])
    }

    /// The plain http:// path refuses the same framings before anything is dialled.
    @Test func thePlainPathRefusesThemToo() {
        #expect(throws: ForwardRequest.Invalid.self) {
            try ForwardRequest(Self.head([("Transfer-Encoding", "Chunked")]))
        }
        #expect(throws: ForwardRequest.Invalid.self) { try ForwardRequest(Self.head(.TRACE, .http1_1, [])) }
    }
}
