import NIOCore
import NIOEmbedded
import Testing

@testable import PaddockGateway

/// The bytes on their way to the request decoder: how an overflow is placed in a line, and that nothing reaches
/// the decoder once the connection is ending.
@Suite("Gateway request decoder feed")
struct RequestDecoderFeedTests {
    /// Feeds `reads` through a feed and asks, during the last one, where an overflow would be.
    func overflowIsInRequestLine(_ reads: [String]) throws -> Bool {
        let feed = RequestDecoderFeed()
        let probe = OverflowProbe(feed: feed)
        let channel = EmbeddedChannel(handlers: [feed, probe])
        for read in reads { try channel.writeInbound(ByteBuffer(string: read)) }
        _ = try channel.finish()
        return probe.answers.last ?? false
    }

    static let long = String(repeating: "a", count: HTTPHeadLimit.bytes + 1)

    @Test func aLongRequestLineIsOne() throws {
        #expect(try overflowIsInRequestLine(["GET http://x/" + Self.long + " HTTP/1.1\r\n\r\n"]))
        #expect(try overflowIsInRequestLine(["CONNECT " + Self.long]))
        // Split over reads, and behind an earlier request on the same connection.
        #expect(try overflowIsInRequestLine(["GET / HTTP/1.1\r\n\r\nGET http://x/", Self.long, "a"]))
        #expect(try overflowIsInRequestLine(["\r\nM-SEARCH ", Self.long]))
    }

    @Test func longHeadersAreNot() throws {
        #expect(try !overflowIsInRequestLine(["GET / HTTP/1.1\r\nX-Long: " + Self.long + "\r\n\r\n"]))
        #expect(try !overflowIsInRequestLine(["GET / HTTP/1.1\r\nX-Long: ", Self.long]))
        // Many short lines: no line is long, the section is.
        let many = (0..<2000).map { "X-\($0): " + String(repeating: "v", count: 100) + "\r\n" }.joined()
        #expect(try !overflowIsInRequestLine(["GET / HTTP/1.1\r\n" + many]))
        #expect(try !overflowIsInRequestLine(["GET / HTTP/1.1\r\n folded " + Self.long]))
    }

    @Test func nothingPassesOnceTheConnectionEnds() throws {
        let feed = RequestDecoderFeed()
        let channel = EmbeddedChannel(handler: feed)
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        feed.discardFromNowOn()
        try channel.writeInbound(ByteBuffer(string: "more"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        _ = try channel.finish()
    }
}

/// Stands where the decoder stands and asks the feed, during each read, what an overflow now would be.
final class OverflowProbe: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let feed: RequestDecoderFeed
    var answers: [Bool] = []

    init(feed: RequestDecoderFeed) {
        self.feed = feed
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        answers.append(feed.overflowIsInRequestLine())
    }
}
