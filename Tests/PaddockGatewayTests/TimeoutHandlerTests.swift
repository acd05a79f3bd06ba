import NIOCore
import NIOEmbedded
import Testing

@testable import PaddockGateway

/// The timeouts on an embedded loop whose clock only moves when the test says so: exact to the millisecond, and
/// independent of how busy the machine running the tests is.
@Suite("Handshake and idle timeouts")
struct TimeoutHandlerTests {
    private static let handshake = TimeAmount.milliseconds(300)
    private static let idle = TimeAmount.milliseconds(1000)

    private func makeChannel() throws -> (EmbeddedChannel, EmbeddedEventLoop) {
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(
            handler: TimeoutHandler(handshakeTimeout: Self.handshake, idleTimeout: Self.idle), loop: loop)
        // An embedded connect touches no network: it only marks the channel active.
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        return (channel, loop)
    }

    @Test func aQuietConnectionIsClosedAtTheHandshakeDeadline() throws {
        let (channel, loop) = try makeChannel()
        loop.advanceTime(by: Self.handshake - .milliseconds(1))
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    @Test func aSlowDripIsCutAtTheHandshakeDeadlineThoughNeverIdle() throws {
        let (channel, loop) = try makeChannel()
        for _ in 0..<2 {
            loop.advanceTime(by: .milliseconds(100))
            try channel.writeInbound(ByteBuffer(string: "C"))
            #expect(channel.isActive)
        }
        loop.advanceTime(by: .milliseconds(100))
        #expect(!channel.isActive)
    }

    @Test func afterTheHandshakeOnlyIdlenessCloses() throws {
        let (channel, loop) = try makeChannel()
        channel.pipeline.syncOperations.completeHandshake()
        loop.advanceTime(by: Self.idle - .milliseconds(1))
        #expect(channel.isActive)
        loop.advanceTime(by: .milliseconds(1))
        #expect(!channel.isActive)
    }

    enum Traffic: CaseIterable, Sendable {
        /// An upload: bytes from the client.
        case reads
        /// A download: the client sends nothing while the origin's bytes flow to it.
        case writes
    }

    @Test(arguments: Traffic.allCases) func trafficEitherWayKeepsABusyTunnelOpen(_ traffic: Traffic) throws {
        let (channel, loop) = try makeChannel()
        channel.pipeline.syncOperations.completeHandshake()
        // Three idle timeouts in all, never more than 300 ms without a byte.
        for _ in 0..<10 {
            loop.advanceTime(by: .milliseconds(300))
            switch traffic {
            case .reads: try channel.writeInbound(ByteBuffer(string: "x"))
            case .writes: try channel.writeOutbound(ByteBuffer(string: "y"))
            }
        }
        #expect(channel.isActive)
        loop.advanceTime(by: Self.idle)
        #expect(!channel.isActive)
    }

    @Test func removingTheHandlerCancelsItsTimer() throws {
        let (channel, loop) = try makeChannel()
        let handler = try channel.pipeline.syncOperations.handler(type: TimeoutHandler.self)
        try channel.pipeline.syncOperations.removeHandler(handler).wait()
        loop.advanceTime(by: Self.idle * 3)
        #expect(channel.isActive)
    }
}
