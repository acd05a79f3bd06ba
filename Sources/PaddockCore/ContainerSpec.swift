import Foundation

/// One thing made visible inside the sandbox.
public struct Mount: Equatable, Hashable, Sendable, Codable {
    public enum Kind: String, Equatable, Hashable, Sendable, Codable {
        /// A host path.
        case bind
        /// An engine-managed named volume (the agent's home).
        case volume
    }

    public var kind: Kind
    /// Host path for `.bind`, volume name for `.volume`.
    public var source: String
    /// Absolute path inside the sandbox.
    public var target: String
    public var readOnly: Bool

    public init(kind: Kind = .bind, source: String, target: String, readOnly: Bool) {
        self.kind = kind
        self.source = source
        self.target = target
        self.readOnly = readOnly
    }

    public static func bind(_ source: String, at target: String, readOnly: Bool) -> Mount {
        Mount(kind: .bind, source: source, target: target, readOnly: readOnly)
    }

    public static func volume(_ name: String, at target: String, readOnly: Bool = false) -> Mount {
        Mount(kind: .volume, source: name, target: target, readOnly: readOnly)
    }
}

/// How the sandbox reaches the network.
public enum NetworkMode: Equatable, Sendable, Codable {
    /// No interface but `lo`: no route, no resolver, no IPv6. Every sandbox.
    case none
    /// The host's own network namespace: only the gateway relay on a Linux engine, to reach the launcher's
    /// loopback listener.
    case host
    /// The engine's ordinary network: only the gateway relay on a VM engine, which reaches the host by name.
    case engineDefault
}

/// Everything an engine needs to start one sandbox: a plain value, rendered to argv by each engine adapter.
public struct ContainerSpec: Equatable, Sendable {
    public var name: String
    public var image: String
    public var labels: [String: String]
    public var user: SandboxUser
    public var workingDirectory: String
    public var mounts: [Mount]
    /// Variables set explicitly inside the sandbox.
    public var environment: [String: String]
    /// Host variables whose values pass through unchanged (their values never appear in argv).
    public var passthroughEnvironment: [String]
    /// Variables set inside whose values must not appear in argv either (the relay's secret): the engine adapter
    /// puts them in the CLI's own environment and names them with `--env NAME`.
    public var secretEnvironment: [String: String] = [:]
    public var network: NetworkMode
    public var cpus: Double?
    /// Bytes.
    public var memory: UInt64?
    public var pidsLimit: Int
    public var interactive: Bool
    public var tty: Bool
    public var command: [String]
    public var hostname: String
    /// Started in the background (`--detach`): the gateway relay, never a sandbox.
    public var detached: Bool
    /// Rootless Podman's `--userns=keep-id` (the host user is the same uid inside). The relay runs as the
    /// container's root instead, which rootless is the host user and owns the relay's volume.
    public var keepsHostUser: Bool

    public init(
        name: String, image: String, labels: [String: String] = [:], user: SandboxUser,
        workingDirectory: String = "/workspace", mounts: [Mount] = [], environment: [String: String] = [:],
        passthroughEnvironment: [String] = [], network: NetworkMode = .none, cpus: Double? = nil,
        memory: UInt64? = nil, pidsLimit: Int = 4096, interactive: Bool = true, tty: Bool = false,
        command: [String], hostname: String = "paddock", detached: Bool = false, keepsHostUser: Bool = true
    ) {
        self.name = name
        self.image = image
        self.labels = labels
        self.user = user
        self.workingDirectory = workingDirectory
        self.mounts = mounts
        self.environment = environment
        self.passthroughEnvironment = passthroughEnvironment
        self.network = network
        self.cpus = cpus
        self.memory = memory
        self.pidsLimit = pidsLimit
        self.interactive = interactive
        self.tty = tty
        self.command = command
        self.hostname = hostname
        self.detached = detached
        self.keepsHostUser = keepsHostUser
    }

}
