import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

enum GatewayTuning {
    /// Large reads for bulk tunnels; buffers live only while in flight, so idle tunnels hold none.
    static let recvAllocator = AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16 * 1024, maximum: 256 * 1024)

    /// Options of an accepted client connection. `tcp` adds no-delay (unix sockets have no Nagle).
    static func configureClient(_ channel: Channel, tcp: Bool) throws {
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try options.setOption(.maxMessagesPerRead, value: 16)
        try options.setOption(.recvAllocator, value: recvAllocator)
        if tcp { try options.setOption(.tcpOption(.tcp_nodelay), value: 1) }
    }

    /// Options of an upstream connection, before it connects. Reads start only once the splice is in place.
    static func configureUpstream(_ channel: Channel) throws {
        guard let options = channel.syncOptions else { throw ChannelError.operationUnsupported }
        try options.setOption(.allowRemoteHalfClosure, value: true)
        try options.setOption(.autoRead, value: false)
        try options.setOption(.tcpOption(.tcp_nodelay), value: 1)
        try options.setOption(.recvAllocator, value: recvAllocator)
    }
}
