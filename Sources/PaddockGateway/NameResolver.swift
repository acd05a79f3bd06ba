import NIOCore
import NIOPosix
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Turns an allowed name into addresses. The gateway calls it only for names the policy already allowed and that
/// `[network.hosts]` does not map, so tests inject a resolver and never touch DNS.
public protocol NameResolver: Sendable {
    func resolve(_ name: String) async throws -> [IPAddress]
}

public struct ResolutionError: Error, Equatable, Sendable, CustomStringConvertible {
    public let name: String
    public let reason: String
    public var description: String { "could not resolve \(name): \(reason)" }
}

/// getaddrinfo(3) on a thread pool, so a slow resolver never blocks an event loop.
public struct SystemResolver: NameResolver {
    private let pool: NIOThreadPool

    public init(pool: NIOThreadPool = .singleton) {
        self.pool = pool
    }

    public func resolve(_ name: String) async throws -> [IPAddress] {
        try await pool.runIfActive {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            #if canImport(Glibc)
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            #else
                hints.ai_socktype = SOCK_STREAM
            #endif
            var result: UnsafeMutablePointer<addrinfo>?
            let status = getaddrinfo(name, nil, &hints, &result)
            guard status == 0, let first = result else {
                throw ResolutionError(name: name, reason: String(cString: gai_strerror(status)))
            }
            defer { freeaddrinfo(first) }
            var addresses: [IPAddress] = []
            var cursor: UnsafeMutablePointer<addrinfo>? = first
            while let info = cursor {
                if let sockaddr = info.pointee.ai_addr {
                    switch Int32(info.pointee.ai_family) {
                    case AF_INET:
                        let bytes = sockaddr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                            withUnsafeBytes(of: $0.pointee.sin_addr) { Array($0) }
                        }
                        if let address = IPAddress(bytes: bytes), !addresses.contains(address) {
                            addresses.append(address)
                        }
                    case AF_INET6:
                        let bytes = sockaddr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                            withUnsafeBytes(of: $0.pointee.sin6_addr) { Array($0) }
                        }
                        if let address = IPAddress(bytes: bytes), !addresses.contains(address) {
                            addresses.append(address)
                        }
                    default:
                        break
                    }
                }
                cursor = info.pointee.ai_next
            }
            guard !addresses.isEmpty else { throw ResolutionError(name: name, reason: "no addresses") }
            return addresses
        }
    }
}
