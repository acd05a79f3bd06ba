import Foundation

/// One configuration layer as written in a file or given as flags. `nil` means "this layer says nothing".
/// Layers combine with `merged(over:)`: later scalars win, lists merge (order kept, duplicates dropped).
public struct PaddockConfig: Equatable, Sendable {
    public var agent: String?
    public var engine: String?
    /// "folder", "socket-file" or "relay": how the sandbox reaches the gateway, when not the engine's own choice.
    public var gatewayTransport: String?
    /// "mount" (default) or "clone".
    public var isolate: String?
    public var image = ImageConfig()
    public var resources = ResourceConfig()
    public var mounts: [MountConfig] = []
    /// Names of host environment variables passed through to the sandbox.
    public var env: [String] = []
    public var network = NetworkConfig()

    public init() {}

    /// This layer applied over `base`.
    public func merged(over base: PaddockConfig) -> PaddockConfig {
        var result = base
        result.agent = agent ?? base.agent
        result.engine = engine ?? base.engine
        result.gatewayTransport = gatewayTransport ?? base.gatewayTransport
        result.isolate = isolate ?? base.isolate
        result.image.base = image.base ?? base.image.base
        result.image.packages = base.image.packages.mergedUnique(image.packages)
        // One way to install the agent: a layer naming either replaces both of the layer below.
        if image.agentBinary != nil || image.agentArchive != nil {
            result.image.agentBinary = image.agentBinary
            result.image.agentArchive = image.agentArchive
        }
        result.resources.cpus = resources.cpus ?? base.resources.cpus
        result.resources.memory = resources.memory ?? base.resources.memory
        result.resources.pids = resources.pids ?? base.resources.pids
        result.mounts = base.mounts.mergedUnique(mounts)
        result.env = base.env.mergedUnique(env)
        result.network = network.merged(over: base.network)
        return result
    }
}

public struct ImageConfig: Equatable, Sendable {
    public var base: String?
    /// Debian packages installed on top of the defaults.
    public var packages: [String] = []
    /// Install the agent from this executable the user already has, instead of its installer (air-gapped and
    /// company networks). As written; `~` is expanded when the image is planned.
    public var agentBinary: String?
    /// The same from a tar archive (`.tar`, `.tar.gz`, `.tgz`, `.tar.xz`, `.tar.bz2`) holding the executable.
    public var agentArchive: String?
    public init(base: String? = nil, packages: [String] = [], agentBinary: String? = nil, agentArchive: String? = nil) {
        self.base = base
        self.packages = packages
        self.agentBinary = agentBinary
        self.agentArchive = agentArchive
    }
}

public struct ResourceConfig: Equatable, Sendable {
    public var cpus: Double?
    /// Bytes.
    public var memory: UInt64?
    public var pids: Int?
    public init(cpus: Double? = nil, memory: UInt64? = nil, pids: Int? = nil) {
        self.cpus = cpus
        self.memory = memory
        self.pids = pids
    }
}

/// An extra host path made visible in the sandbox.
public struct MountConfig: Equatable, Hashable, Sendable {
    /// As written; `~` is expanded when the session is planned.
    public var path: String
    /// Where it appears inside; defaults to `/mnt/<last path component>`.
    public var target: String?
    public var readWrite: Bool
    public init(path: String, target: String? = nil, readWrite: Bool = false) {
        self.path = path
        self.target = target
        self.readWrite = readWrite
    }
}

/// The `[network]` table: what the gateway lets through.
public struct NetworkConfig: Equatable, Sendable {
    /// Named host sets (`github`, `npm`, …).
    public var presets: [String] = []
    /// Host patterns, `HOST[:PORT]`, `*.domain[:PORT]` or CIDR.
    public var allow: [String] = []
    public var deny: [String] = []
    /// Like /etc/hosts, for the gateway only.
    public var hosts: [String: String] = [:]
    /// `true` turns every way out off, whatever else is allowed.
    public var offline: Bool?
    /// `[[network.credentials]]`: secrets the gateway adds for one host each.
    public var credentials: [CredentialRule] = []
    /// `[[network.requests]]`: methods and paths an intercepted host may be asked.
    public var requests: [RequestRule] = []

    public init(
        presets: [String] = [], allow: [String] = [], deny: [String] = [], hosts: [String: String] = [:],
        offline: Bool? = nil, credentials: [CredentialRule] = [], requests: [RequestRule] = []
    ) {
        self.presets = presets
        self.allow = allow
        self.deny = deny
        self.hosts = hosts
        self.offline = offline
        self.credentials = credentials
        self.requests = requests
    }

    public func merged(over base: NetworkConfig) -> NetworkConfig {
        NetworkConfig(
            presets: base.presets.mergedUnique(presets), allow: base.allow.mergedUnique(allow),
            deny: base.deny.mergedUnique(deny), hosts: base.hosts.merging(hosts) { _, new in new },
            offline: offline ?? base.offline, credentials: base.credentials.mergedUnique(credentials),
            requests: base.requests.mergedUnique(requests))
    }
}

extension Array where Element: Hashable {
    /// `self` followed by the elements of `other` not already present.
    func mergedUnique(_ other: [Element]) -> [Element] {
        var seen = Set(self)
        var result = self
        for element in other where seen.insert(element).inserted {
            result.append(element)
        }
        return result
    }
}
