import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The egress gateway: the sandbox's only way out. Listens on a unix socket (and optionally loopback TCP), speaks
/// HTTP/1.1 proxy and SOCKS5, decides every connection with the current `NetworkPolicy`, logs each one.
///
/// ```swift
/// let policies = PolicyStore(try NetworkPolicy(config: merged.network, agentHosts: profile.networkHosts))
/// let log = try FileConnectionLog(path: stateDir + "/net.log")
/// let gateway = Gateway(configuration: .init(unixSocketPath: socketPath), policies: policies, log: log)
/// try await gateway.start()
/// …                                   // policies.update(newPolicy) whenever the config changes
/// await gateway.shutdown()
/// await log.close()
/// print(gateway.summary.line)
/// ```
public final class Gateway: Sendable {
    /// Where the gateway ended up listening.
    public struct Endpoints: Sendable {
        public var unixSocketPath: String?
        /// The bound loopback TCP address (with the real port when 0 was asked for).
        public var tcpAddress: SocketAddress?
    }

    private enum Phase {
        case created
        case starting
        case running(servers: [Channel])
        case stopped
    }

    private struct State {
        var phase = Phase.created
        var connections: [ObjectIdentifier: Channel] = [:]
        var stopping = false
    }

    public let configuration: GatewayConfiguration
    public let policies: PolicyStore
    private let recorder: GatewayRecorder
    private let session: ProxySession
    private let group: any EventLoopGroup
    private let state = NIOLockedValueBox(State())
    private let probe = GatewayProbe()

    /// - Parameters:
    ///   - policies: the live policy; update it and new connections and requests follow at once.
    ///   - log: where each connection's record goes.
    ///   - resolver: DNS for allowed names not mapped by `[network.hosts]`.
    public init(
        configuration: GatewayConfiguration, policies: PolicyStore, log: any ConnectionLogSink,
        resolver: any NameResolver = SystemResolver(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "paddock.gateway")
    ) {
        self.configuration = configuration
        self.policies = policies
        self.recorder = GatewayRecorder(sink: log)
        self.group = group
        var session = ProxySession(
            policies: policies, resolver: resolver, recorder: recorder,
            connectTimeout: configuration.connectTimeout, logger: logger)
        var interceptionFailure: String?
        if let interception = configuration.interception {
            do {
                session.interceptor = try Interceptor(interception)
            } catch {
                // `start` refuses to run: a gateway that should add credentials must never fall back to tunnels.
                interceptionFailure = "\(error)"
            }
        }
        self.session = session
        self.interceptionFailure = interceptionFailure
    }

    private let interceptionFailure: String?

    /// Counts so far: allowed, denied, invalid, top denied hosts. `summary.line` is the end-of-session line.
    public var summary: ConnectionSummary { recorder.summary }

    /// Probes answered (`GatewayAccess.probeRequestLine`): at least one once a sandbox's bridge got through.
    public var probesAnswered: Int { probe.count }

    /// Client connections open right now.
    public var activeConnections: Int { state.withLockedValue { $0.connections.count } }

    /// Binds the listeners and starts accepting. Returns once the gateway is reachable.
    @discardableResult
    public func start() async throws -> Endpoints {
        guard configuration.unixSocketPath != nil || configuration.tcpHost != nil else {
            throw GatewayError.notConfigured
        }
        if let interceptionFailure { throw GatewayError.interceptionFailed(interceptionFailure) }
        let fresh = state.withLockedValue { state -> Bool in
            guard case .created = state.phase else { return false }
            state.phase = .starting
            return true
        }
        guard fresh else { throw GatewayError.alreadyStarted }
        var servers: [Channel] = []
        var endpoints = Endpoints()
        do {
            if let path = configuration.unixSocketPath {
                let server = try await bootstrap(tcp: false)
                    .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
                servers.append(server)
                if let mode = configuration.unixSocketMode, chmod(path, mode_t(mode)) != 0 {
                    throw GatewayError.bindFailed(path, "chmod: \(String(cString: strerror(errno)))")
                }
                endpoints.unixSocketPath = path
            }
            if let host = configuration.tcpHost {
                let server = try await bootstrap(tcp: true).bind(host: host, port: configuration.tcpPort).get()
                servers.append(server)
                endpoints.tcpAddress = server.localAddress
            }
        } catch {
            for server in servers { try? await server.close() }
            state.withLockedValue { $0.phase = .stopped }
            if let error = error as? GatewayError { throw error }
            let place = configuration.unixSocketPath ?? "\(configuration.tcpHost ?? "?"):\(configuration.tcpPort)"
            throw GatewayError.bindFailed(place, "\(error)")
        }
        let accepted = state.withLockedValue { state -> Bool in
            guard case .starting = state.phase else { return false }
            state.phase = .running(servers: servers)
            return true
        }
        if !accepted {
            // shutdown() ran while we were binding.
            for server in servers { try? await server.close() }
        }
        return endpoints
    }

    /// Stops listening, closes every open connection and waits until all of them are closed. After it returns no
    /// socket of the gateway is open.
    public func shutdown() async {
        let servers = state.withLockedValue { state -> [Channel] in
            state.stopping = true
            defer { state.phase = .stopped }
            guard case .running(let servers) = state.phase else { return [] }
            return servers
        }
        for server in servers { try? await server.close() }
        let open = state.withLockedValue { Array($0.connections.values) }
        for connection in open {
            connection.close(promise: nil)
            // Tunnels close their upstream when the client side goes; waiting on each keeps "stopped" honest.
            try? await connection.closeFuture.get()
        }
        if let path = configuration.unixSocketPath, !servers.isEmpty { unlink(path) }
    }

    private func bootstrap(tcp: Bool) -> ServerBootstrap {
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            // Child options are set in `initialize`: as bootstrap options they cost a future each per connection.
            .childChannelInitializer { [self] channel in self.initialize(channel, tcp: tcp) }
        if tcp {
            bootstrap = bootstrap.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        }
        return bootstrap
    }

    /// Runs on the new connection's event loop before any byte is read.
    private func initialize(_ channel: Channel, tcp: Bool) -> EventLoopFuture<Void> {
        let id = ObjectIdentifier(channel)
        let admitted: Bool = state.withLockedValue { state in
            guard !state.stopping, state.connections.count < configuration.maxConnections else { return false }
            state.connections[id] = channel
            return true
        }
        guard admitted else {
            recorder.recordInvalid(nil, request: "new connection", reason: "over the connection limit or shutting down")
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
        }
        channel.closeFuture.whenComplete { [state] _ in
            _ = state.withLockedValue { $0.connections.removeValue(forKey: id) }
        }
        let session = self.session
        let recorder = self.recorder
        let probe = self.probe
        return channel.eventLoop.makeCompletedFuture {
            try GatewayTuning.configureClient(channel, tcp: tcp)
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(
                TimeoutHandler(handshakeTimeout: configuration.handshakeTimeout, idleTimeout: configuration.idleTimeout)
            )
            let credential = tcp ? configuration.tcpCredential : nil
            if let credential {
                try sync.addHandler(ProxyAuthenticationGate(credential: credential, recorder: recorder))
            }
            try sync.addHandler(ProtocolDetector(credential: credential, probe: probe))
            try sync.addHandler(ProxyDecisionHandler(session: session))
        }
    }
}
