import NIOConcurrencyHelpers
import NIOCore
import PaddockCore

/// Where and how the gateway listens, and its limits. The defaults suit one sandbox session.
public struct GatewayConfiguration: Sendable {
    /// The unix socket bind-mounted into the sandbox. A stale socket file at this path is replaced.
    public var unixSocketPath: String?
    /// Permission bits for the socket file (the sandbox user must be able to connect); nil keeps the umask's.
    public var unixSocketMode: UInt16?
    /// A loopback TCP listener: the relay transport's (with `tcpCredential`), tests and benchmarks
    /// (`127.0.0.1:0` picks a free port).
    public var tcpHost: String?
    public var tcpPort: Int
    /// What every client of the TCP listener must present (HTTP `Proxy-Authorization: Basic`, SOCKS5
    /// username/password). Any local process can reach a loopback port; set it whenever a sandbox reaches the
    /// gateway through TCP (the relay transport).
    public var tcpCredential: ProxyCredential?
    /// Upstream TCP connect timeout.
    public var connectTimeout: TimeAmount
    /// Time a client has to send its first request after connecting (stops slow-drip handshakes).
    public var handshakeTimeout: TimeAmount
    /// A connection with no traffic either way for this long is closed.
    public var idleTimeout: TimeAmount
    /// Client connections beyond this many are refused at once.
    public var maxConnections: Int
    /// Credentials to add and requests to check on the hosts that have rules; nil: every tunnel stays opaque.
    public var interception: Interception?

    public init(
        unixSocketPath: String? = nil, unixSocketMode: UInt16? = nil, tcpHost: String? = nil, tcpPort: Int = 0,
        tcpCredential: ProxyCredential? = nil,
        connectTimeout: TimeAmount = .seconds(10), handshakeTimeout: TimeAmount = .seconds(30),
        idleTimeout: TimeAmount = .minutes(15), maxConnections: Int = 4096, interception: Interception? = nil
    ) {
        self.interception = interception
        self.unixSocketPath = unixSocketPath
        self.unixSocketMode = unixSocketMode
        self.tcpHost = tcpHost
        self.tcpPort = tcpPort
        self.tcpCredential = tcpCredential
        self.connectTimeout = connectTimeout
        self.handshakeTimeout = handshakeTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
    }
}

/// The current policy, swapped live by the launcher. New connections and each new plain-HTTP request read it;
/// tunnels already open keep the decision they were opened with.
public final class PolicyStore: Sendable {
    private let box: NIOLockedValueBox<NetworkPolicy>

    public init(_ policy: NetworkPolicy) {
        box = NIOLockedValueBox(policy)
    }

    public var current: NetworkPolicy { box.withLockedValue { $0 } }

    public func update(_ policy: NetworkPolicy) {
        box.withLockedValue { $0 = policy }
    }
}

public enum GatewayError: Error, Equatable, Sendable, CustomStringConvertible {
    case notConfigured
    case alreadyStarted
    case bindFailed(String, String)
    case interceptionFailed(String)

    public var description: String {
        switch self {
        case .notConfigured: return "the gateway has neither a unix socket path nor a TCP host to listen on"
        case .alreadyStarted: return "the gateway was already started"
        case .bindFailed(let place, let reason): return "the gateway could not listen on \(place): \(reason)"
        case .interceptionFailed(let reason): return "the gateway could not set up its certificates: \(reason)"
        }
    }
}
