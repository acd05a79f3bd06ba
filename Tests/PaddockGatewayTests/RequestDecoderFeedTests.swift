import NIOCore
import NIOEmbedded
import Testing

@testable import PaddockGateway

/// The bytes on their way to the request decoder: nothing reaches the decoder once the connection is ending.
@Suite("Gateway request decoder feed")
struct RequestDecoderFeedTests {
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
