import Foundation
import PaddockCore

/// What `doctor` and `version` report about the engine.
public struct EngineInfo: Equatable, Sendable {
    /// Docker Engine, Docker Desktop, Colima, OrbStack, Podman (Docker API), …
    public var flavor: String
    public var serverVersion: String
    public var operatingSystem: String
    public var rootDirectory: String?
    /// The product, as the gateway transport needs it (whether a VM sits between host and containers).
    public var product: EngineFlavor

    public init(
        flavor: String, serverVersion: String, operatingSystem: String, rootDirectory: String? = nil,
        product: EngineFlavor = .dockerEngine
    ) {
        self.flavor = flavor
        self.serverVersion = serverVersion
        self.operatingSystem = operatingSystem
        self.rootDirectory = rootDirectory
        self.product = product
    }
}

public struct ImageSummary: Equatable, Sendable, Codable {
    public var reference: String
    public var id: String
    public var created: String
    public var size: String
    public var contextHash: String?

    public init(reference: String, id: String, created: String, size: String, contextHash: String?) {
        self.reference = reference
        self.id = id
        self.created = created
        self.size = size
        self.contextHash = contextHash
    }
}

public struct ContainerSummary: Equatable, Sendable, Codable {
    public var name: String
    public var id: String
    public var state: String
    public var status: String
    public var labels: [String: String]

    public init(name: String, id: String, state: String, status: String, labels: [String: String]) {
        self.name = name
        self.id = id
        self.state = state
        self.status = status
        self.labels = labels
    }
}

public struct ImageBuildRequest: Equatable, Sendable {
    public var contextDirectory: String
    public var tag: String
    public var labels: [String: String]
    public var noCache: Bool
    public var pull: Bool

    public init(
        contextDirectory: String, tag: String, labels: [String: String], noCache: Bool = false, pull: Bool = false
    ) {
        self.contextDirectory = contextDirectory
        self.tag = tag
        self.labels = labels
        self.noCache = noCache
        self.pull = pull
    }
}

/// A container engine. Callers speak only this protocol: engine-specific flags and output parsing stay in the
/// adapters.
public protocol ContainerEngine: Sendable {
    /// Short name for messages: "docker", "podman", "bwrap".
    var name: String { get }
    /// Whether sandboxes start from an image this engine builds. bwrap has none: the agent runs on the host's own
    /// userland, so callers skip the image step (and the image methods report that there is nothing to build).
    var needsImage: Bool { get }
    /// What a session on this host does not get that the README promises elsewhere, one sentence each; said
    /// before every session and by `doctor`, so nothing runs with weaker isolation silently.
    var limitations: [String] { get }
    /// Why this host cannot start any sandbox on this engine, known before trying (nil when nothing is known).
    var startRefusal: PaddockError? { get }
    func info() async throws -> EngineInfo
    /// The value of `label` on `image`, `""` when the image has no such label, nil when the image is absent.
    func imageLabel(_ image: String, label: String) async throws -> String?
    /// Builds, handing each output line to `onLine`; throws with the output's tail on failure.
    func buildImage(_ request: ImageBuildRequest, onLine: @escaping @Sendable (String) -> Void) async throws
    func images(withLabel label: String) async throws -> [ImageSummary]
    /// Runs attached to the caller's terminal; returns the container's exit status.
    func run(_ spec: ContainerSpec) async throws -> Int32
    /// Throws `invalidArgument` with an alternative when the engine cannot enter a running sandbox (bwrap).
    func exec(container: String, user: String, command: [String], tty: Bool) async throws -> Int32
    /// paddock's containers (those carrying the session label); stopped ones too with `all`.
    func containers(all: Bool) async throws -> [ContainerSummary]
    func stop(container: String, timeoutSeconds: Int) async throws
    /// Removes, killing first if running. Missing containers are not an error. Must end every process of the
    /// sandbox: teardown on SIGINT/SIGTERM/SIGHUP relies on it.
    func remove(containers: [String]) async throws

    // MARK: the gateway seam

    /// What this engine can do, among it the ways a sandbox reaches the gateway.
    var capabilities: EngineCapabilities { get }
    /// The product answering, which decides the transport (a VM between host and container or not).
    func engineFlavor() async -> EngineFlavor
    /// The sandbox sees a bind mount's host inode and device (the same kernel, no file sharing in between), so
    /// `MountIdentityCheck` can compare them.
    func mountsShowHostInodes() async -> Bool
    /// Starts a container (the gateway relay) tied to this process: it runs until the returned lifeline is
    /// released or this process ends. Returns once it runs.
    func startDetached(_ spec: ContainerSpec) async throws -> Lifeline
    /// Containers carrying `label`, whatever its value.
    func containers(withLabel label: String, all: Bool) async throws -> [ContainerSummary]
    func createVolume(_ name: String, labels: [String: String]) async throws
    /// Missing volumes are not an error.
    func removeVolumes(_ names: [String]) async throws
    /// Volumes carrying `label`, with their labels.
    func volumes(withLabel label: String) async throws -> [VolumeSummary]
}

public struct VolumeSummary: Equatable, Sendable {
    public var name: String
    public var labels: [String: String]

    public init(name: String, labels: [String: String]) {
        self.name = name
        self.labels = labels
    }
}

extension ContainerEngine {
    public var capabilities: EngineCapabilities { .linuxContainer }
    public var needsImage: Bool { capabilities.image }
    /// Asks the engine on a Mac, where every engine but Apple's puts a Linux VM in between; on Linux the engine
    /// shares the host's kernel (Docker Desktop for Linux, which does not, is not told apart).
    public func engineFlavor() async -> EngineFlavor {
        #if os(Linux) && !PADDOCK_SIMULATE_MACOS
            return .dockerEngine
        #else
            return (try? await info().product) ?? .lima
        #endif
    }

    public func mountsShowHostInodes() async -> Bool {
        let flavor = await engineFlavor()
        return !HostSystem.isMac && [.dockerEngine, .podman, .bubblewrap].contains(flavor)
    }

    private var noContainers: PaddockError {
        PaddockError.invalidArgument(
            "\(name) runs no containers besides the sandbox, so it has no relay: use the folder or socket-file gateway transport."
        )
    }
    public func startDetached(_ spec: ContainerSpec) async throws -> Lifeline { throw noContainers }
    public func containers(withLabel label: String, all: Bool) async throws -> [ContainerSummary] { [] }
    public func createVolume(_ name: String, labels: [String: String]) async throws { throw noContainers }
    public func removeVolumes(_ names: [String]) async throws {}
    public func volumes(withLabel label: String) async throws -> [VolumeSummary] { [] }
    public var limitations: [String] { [] }
    public var startRefusal: PaddockError? { nil }
}

/// Argv pieces every CLI adapter writes the same way.
enum EngineArguments {
    /// `--label key=value` for each label, in key order, so argv is stable and testable.
    static func labels(_ labels: [String: String]) -> [String] {
        labels.keys.sorted().flatMap { ["--label", "\($0)=\(labels[$0] ?? "")"] }
    }
}
