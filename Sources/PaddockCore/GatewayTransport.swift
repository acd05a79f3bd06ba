import Foundation

/// How a sandbox's bridge reaches the launcher's gateway. Each engine says which it uses (`EngineCapabilities`,
/// `EngineFlavor`); `--gateway-transport` or `gateway_transport` in the configuration forces one. Whatever the
/// transport, the sandbox sees the same socket at `/run/paddock/gateway.sock` and the same bridge on
/// 127.0.0.1:3128; the gateway decides everything, so none of them is a boundary.
public enum GatewayTransport: String, CaseIterable, Equatable, Hashable, Sendable, Codable {
    /// The gateway's private folder bound read-only: engines whose containers share the host's kernel (Docker
    /// Engine and Podman on Linux, bubblewrap).
    case boundFolder = "folder"
    /// The socket file itself bound: Apple `container` relays such a bind over vsock, a folder it does not.
    case boundSocketFile = "socket-file"
    /// A relay container on the engine's ordinary network forwards a socket in a per-session named volume to the
    /// gateway's loopback TCP listener, which wants the session's secret: the VM engines (Docker Desktop, Colima,
    /// OrbStack, Podman machine, Rancher Desktop), where no socket bound from the Mac connects.
    case relay

    public static func parse(_ value: String, source: String) throws -> GatewayTransport {
        guard let transport = GatewayTransport(rawValue: value.lowercased()) else {
            throw PaddockError.invalidArgument(
                "\(source) names the gateway transport \"\(value)\"; use folder, socket-file or relay (or leave it out to let the engine choose)."
            )
        }
        return transport
    }

    /// Only the relay's listener is reachable by other local processes, so only it wants a secret.
    public var needsSecret: Bool { self == .relay }

    /// For messages: what was tried.
    public var summary: String {
        switch self {
        case .boundFolder: return "the gateway's folder bound into the sandbox"
        case .boundSocketFile: return "the gateway's socket file bound into the sandbox"
        case .relay: return "a relay container forwarding a socket in a named volume to the gateway's loopback port"
        }
    }
}

/// A Linux hardening flag paddock puts on every sandbox where the engine has it.
public enum HardeningFlag: String, CaseIterable, Equatable, Hashable, Sendable, Comparable {
    case capDropAll = "cap-drop ALL"
    case noNewPrivileges = "no-new-privileges"
    case pidsLimit = "pids limit"
    case seccompProfile = "seccomp profile"
    case initProcess = "init"

    public static func < (lhs: HardeningFlag, rhs: HardeningFlag) -> Bool {
        allCases.firstIndex(of: lhs) ?? 0 < allCases.firstIndex(of: rhs) ?? 0
    }
}

/// What an engine can do, so callers ask it instead of knowing engines by name.
public struct EngineCapabilities: Equatable, Sendable {
    /// Sandboxes start from an image the engine builds (bwrap: the host's userland).
    public var image: Bool
    /// A running sandbox can be entered (`paddock exec`).
    public var exec: Bool
    public var hardening: Set<HardeningFlag>
    /// Named volumes (the relay's socket lives in one).
    public var volumes: Bool
    /// The transports this engine can carry; the first is its default where the flavor does not decide.
    public var transports: [GatewayTransport]
    /// What stands in for a missing hardening flag, said by `doctor` with each missing one.
    public var substitute: String?

    public init(
        image: Bool, exec: Bool, hardening: Set<HardeningFlag>, volumes: Bool, transports: [GatewayTransport],
        substitute: String? = nil
    ) {
        self.image = image
        self.exec = exec
        self.hardening = hardening
        self.volumes = volumes
        self.transports = transports
        self.substitute = substitute
    }

    /// Docker and Podman: every flag, every transport.
    public static let linuxContainer = EngineCapabilities(
        image: true, exec: true, hardening: Set(HardeningFlag.allCases), volumes: true,
        transports: [.boundFolder, .relay, .boundSocketFile])

    /// bubblewrap: no image, no exec, no volumes; the folder is bound as any other path.
    public static let bubblewrap = EngineCapabilities(
        image: false, exec: false, hardening: [.capDropAll, .noNewPrivileges, .seccompProfile], volumes: false,
        transports: [.boundFolder, .boundSocketFile])

    /// Apple `container`: one VM per container; no no-new-privileges and no pids limit exist there.
    public static let appleContainer = EngineCapabilities(
        image: true, exec: true, hardening: [.capDropAll, .initProcess], volumes: true,
        transports: [.boundSocketFile, .relay],
        substitute: "each sandbox is its own lightweight VM, so a process that gains privileges or forks without "
            + "bound holds only that VM")

    public var missingHardening: [HardeningFlag] {
        HardeningFlag.allCases.filter { !hardening.contains($0) }
    }

    /// One `doctor` line per missing flag, naming what stands in for it.
    public var hardeningNotes: [String] {
        missingHardening.map { flag in
            "no \(flag.rawValue) on this engine" + (substitute.map { ": \($0)" } ?? "")
        }
    }

    /// The transport a session uses: the forced one when the engine can carry it, else the flavor's.
    public func transport(forced: GatewayTransport?, flavor: EngineFlavor?, engine: String) throws -> GatewayTransport {
        if let forced {
            guard transports.contains(forced) else {
                throw PaddockError.invalidArgument(
                    "The gateway transport \(forced.rawValue) is not available on \(engine); it offers "
                        + transports.map(\.rawValue).joined(separator: ", ") + ". Choose one of them or leave it out.")
            }
            return forced
        }
        if let preferred = flavor?.transport, transports.contains(preferred) { return preferred }
        return transports.first ?? .boundFolder
    }
}

/// Which engine product answers, told apart from what it reports about itself (`docker info`, `podman info`),
/// because that decides whether a socket bound from the host connects inside.
public enum EngineFlavor: String, CaseIterable, Equatable, Sendable {
    case dockerEngine = "Docker Engine"
    case dockerDesktop = "Docker Desktop"
    case colima = "Colima"
    case orbStack = "OrbStack"
    case rancherDesktop = "Rancher Desktop"
    case lima = "Lima"
    case podman = "Podman"
    case podmanMachine = "Podman machine"
    case appleContainer = "Apple container"
    case bubblewrap = "bubblewrap"

    /// What the engine reported. `name` is Docker's `Name` (the daemon's host name), `operatingSystem` its
    /// `OperatingSystem`; for Podman `podmanRemote` is `host.serviceIsRemote` (a client talking to a VM).
    public struct Report: Equatable, Sendable {
        public var operatingSystem: String
        public var name: String
        public var serverVersion: String
        public var isPodman: Bool
        public var podmanRemote: Bool
        /// The launcher's own system: a Docker Engine answering a Mac is in a VM whatever it calls itself.
        public var hostIsMac: Bool

        public init(
            operatingSystem: String = "", name: String = "", serverVersion: String = "", isPodman: Bool = false,
            podmanRemote: Bool = false, hostIsMac: Bool
        ) {
            self.operatingSystem = operatingSystem
            self.name = name
            self.serverVersion = serverVersion
            self.isPodman = isPodman
            self.podmanRemote = podmanRemote
            self.hostIsMac = hostIsMac
        }
    }

    public static func detect(_ report: Report) -> EngineFlavor {
        let system = report.operatingSystem.lowercased()
        let name = report.name.lowercased()
        if report.isPodman || report.serverVersion.lowercased().contains("podman") {
            return report.podmanRemote || report.hostIsMac ? .podmanMachine : .podman
        }
        if system.contains("docker desktop") || name == "docker-desktop" { return .dockerDesktop }
        if system.contains("orbstack") || name == "orbstack" { return .orbStack }
        if name.contains("rancher-desktop") || system.contains("rancher desktop") { return .rancherDesktop }
        if name == "colima" || name.hasPrefix("colima-") { return .colima }
        if name.hasPrefix("lima-") || name == "lima" { return .lima }
        return report.hostIsMac ? .lima : .dockerEngine
    }

    /// Whether a VM sits between the launcher and the containers (so no bound socket connects).
    public var isVirtualMachine: Bool {
        switch self {
        case .dockerEngine, .podman, .bubblewrap: return false
        case .appleContainer: return true
        case .dockerDesktop, .colima, .orbStack, .rancherDesktop, .lima, .podmanMachine: return true
        }
    }

    public var transport: GatewayTransport {
        switch self {
        case .dockerEngine, .podman, .bubblewrap: return .boundFolder
        case .appleContainer: return .boundSocketFile
        case .dockerDesktop, .colima, .orbStack, .rancherDesktop, .lima, .podmanMachine: return .relay
        }
    }

    /// How the relay container reaches the launcher's 127.0.0.1: the host's own network where the engine shares
    /// the kernel, else the name each VM gives the Mac's loopback.
    public var relayRoute: RelayRoute {
        switch self {
        case .dockerEngine, .podman, .bubblewrap: return .hostNetwork
        case .dockerDesktop, .orbStack: return .hostAlias("host.docker.internal")
        case .colima, .rancherDesktop, .lima: return .hostAlias("host.lima.internal")
        case .podmanMachine: return .hostAlias("host.containers.internal")
        // Unverified: Apple's `container` uses the socket file; this name is only for a forced relay.
        case .appleContainer: return .hostAlias("host.container.internal")
        }
    }
}

/// How a relay container reaches the gateway's loopback listener.
public enum RelayRoute: Equatable, Sendable {
    /// `--network host`: the host's own 127.0.0.1 (Linux engines).
    case hostNetwork
    /// A name inside the VM that leads to the host's loopback.
    case hostAlias(String)

    public var host: String {
        switch self {
        case .hostNetwork: return "127.0.0.1"
        case .hostAlias(let name): return name
        }
    }
}

/// How one session's sandbox is attached to its gateway: what `SessionPlanner` mounts, and what the proxy
/// variables carry.
public struct GatewayAttachment: Equatable, Sendable {
    public var transport: GatewayTransport
    /// `.boundFolder`: the gateway's folder; `.boundSocketFile`: its socket file; `.relay`: the named volume the
    /// relay's socket is in.
    public var source: String
    /// The secret the proxy variables carry (relay only).
    public var credential: ProxyCredential?

    public init(transport: GatewayTransport, source: String, credential: ProxyCredential? = nil) {
        self.transport = transport
        self.source = source
        self.credential = credential
    }

    /// Read-only every way: the agent can connect to the socket but not replace or remove it. (A unix socket
    /// connects through a read-only mount: connecting is no write to the file system.)
    public var mount: Mount {
        switch transport {
        case .boundFolder: return .bind(source, at: GatewayAccess.directoryInSandbox, readOnly: true)
        case .boundSocketFile: return .bind(source, at: GatewayAccess.socketInSandbox, readOnly: true)
        case .relay: return .volume(source, at: GatewayAccess.directoryInSandbox, readOnly: true)
        }
    }
}

/// The relay of one session (relay transport): a named volume, and a container from the sandbox image whose
/// socat listens on a socket in that volume and forwards each connection to the gateway's loopback port. The
/// sandbox mounts the volume read-only and keeps `--network none`. Pure, so the exact container is tested.
public struct RelayPlan: Equatable, Sendable {
    public static let label = "paddock.relay"

    public var volume: String
    public var labels: [String: String]
    public var container: ContainerSpec

    public static func name(for session: SessionID) -> String { "paddock-relay-\(session.rawValue)" }

    public static func make(
        session: SessionID, image: String, route: RelayRoute, port: Int, launcherPID: Int32, launcherStart: String
    ) -> RelayPlan {
        let name = name(for: session)
        let labels = [
            label: session.rawValue,
            SessionLabels.launcherPID: String(launcherPID),
            SessionLabels.launcherStart: launcherStart,
        ]
        let network: NetworkMode
        switch route {
        case .hostNetwork: network = .host
        case .hostAlias: network = .engineDefault
        }
        // The container's root: it owns the fresh volume (rootless: it is the host user). 0666 lets the sandbox's
        // user connect; only containers given this volume see the socket, and the gateway wants the secret anyway.
        let container = ContainerSpec(
            name: name, image: image, labels: labels, user: SandboxUser(uid: 0, gid: 0), workingDirectory: "/",
            mounts: [.volume(name, at: GatewayAccess.directoryInSandbox)], network: network, memory: 64 << 20,
            pidsLimit: 1024, interactive: true, tty: false,
            // socat dials the port afresh for every connection, so a relay outliving its launcher would hand the
            // sandbox whatever binds that port later. Its stdin is a pipe only the launcher holds (the engine's
            // CLI stays attached): end of input, whether the launcher exits or is killed, ends the relay.
            // 128 KiB copies: with socat's 8 KiB default the relay's second hop halved bulk throughput
            // (docs/benchmarks.md).
            command: [
                "sh", "-c", "socat \"$@\" & read _; kill $!", "paddock-relay",
                "-b", "131072", "UNIX-LISTEN:\(GatewayAccess.socketInSandbox),fork,perm=0666,unlink-early",
                "TCP:\(route.host):\(port)",
            ],
            hostname: "paddock-relay", detached: false, keepsHostUser: false)
        return RelayPlan(volume: name, labels: labels, container: container)
    }
}

/// Everything about one session's way to its gateway once the gateway listens: what the sandbox mounts, and
/// for the relay transport the relay to start.
public struct GatewayLink: Equatable, Sendable {
    public var transport: GatewayTransport
    public var flavor: EngineFlavor
    public var sessionID: SessionID
    /// The gateway's private folder, and its socket in it.
    public var directory: String
    public var socket: String
    /// The loopback port the relay forwards to (relay transport only).
    public var port: Int?
    public var credential: ProxyCredential?
    public var launcherPID: Int32
    public var launcherStart: String

    public init(
        transport: GatewayTransport, flavor: EngineFlavor, sessionID: SessionID, directory: String, socket: String,
        port: Int? = nil, credential: ProxyCredential? = nil, launcherPID: Int32 = 0, launcherStart: String = ""
    ) {
        self.transport = transport
        self.flavor = flavor
        self.sessionID = sessionID
        self.directory = directory
        self.socket = socket
        self.port = port
        self.credential = credential
        self.launcherPID = launcherPID
        self.launcherStart = launcherStart
    }

    public var attachment: GatewayAttachment {
        switch transport {
        case .boundFolder: return GatewayAttachment(transport: .boundFolder, source: directory)
        case .boundSocketFile: return GatewayAttachment(transport: .boundSocketFile, source: socket)
        case .relay:
            return GatewayAttachment(transport: .relay, source: RelayPlan.name(for: sessionID), credential: credential)
        }
    }

    /// The relay to start from `image`; nil for the other transports.
    public func relayPlan(image: String) -> RelayPlan? {
        guard transport == .relay, let port else { return nil }
        return RelayPlan.make(
            session: sessionID, image: image, route: flavor.relayRoute, port: port, launcherPID: launcherPID,
            launcherStart: launcherStart)
    }
}

extension GatewayLink {
    /// The error when the sandbox's probe never reached the gateway: the engine, what was tried, the fix.
    public func unreachable(engine: String) -> PaddockError {
        let fix: String
        switch transport {
        case .boundFolder:
            fix =
                "A VM between this machine and the containers (Docker Desktop, Colima, OrbStack, Podman machine, "
                + "Rancher Desktop) passes no bound socket: run with `--gateway-transport relay` (or set "
                + "`gateway_transport = \"relay\"` in ~/.config/paddock/config.toml)."
        case .boundSocketFile:
            fix =
                "Apple `container` 1.1.0 or later passes a bound socket file; other VM engines do not: try "
                + "`--gateway-transport relay`, or update `container`."
        case .relay:
            let route = flavor.relayRoute
            fix =
                "The relay container could not reach this machine's 127.0.0.1:\(port.map(String.init) ?? "?")"
                + (route == .hostNetwork ? " through the host network" : " as \(route.host)")
                + ": check that the engine's containers reach the host (its host-gateway name), or on Linux "
                + "use `--gateway-transport folder`."
        }
        return PaddockError.engineCannotStart(
            engine: "\(engine) (\(flavor.rawValue))",
            detail: "the sandbox could not reach paddock's gateway through \(transport.summary) "
                + "(`\(transport.rawValue)`). \(fix) `--offline` runs without network.")
    }
}

extension EngineFlavor {
    /// `doctor`'s line about the way out: which product answers, and how its sandboxes reach the gateway.
    public func gatewayDetail(_ transport: GatewayTransport) -> String {
        let why =
            isVirtualMachine
            ? "a VM sits between this machine and the sandboxes"
            : "the sandboxes share this machine's kernel"
        return "\(rawValue): \(transport.rawValue) (\(transport.summary)); \(why)"
    }
}
