import Foundation
import PaddockCore

/// What `doctor` and `version` report about the engine.
public struct EngineInfo: Equatable, Sendable {
    /// Docker Engine, Docker Desktop, Colima, OrbStack, Podman (Docker API), …
    public var flavor: String
    public var serverVersion: String
    public var operatingSystem: String
    public var rootDirectory: String?

    public init(flavor: String, serverVersion: String, operatingSystem: String, rootDirectory: String? = nil) {
        self.flavor = flavor
        self.serverVersion = serverVersion
        self.operatingSystem = operatingSystem
        self.rootDirectory = rootDirectory
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

    public init(contextDirectory: String, tag: String, labels: [String: String], noCache: Bool = false, pull: Bool = false) {
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
}

extension ContainerEngine {
    public var needsImage: Bool { true }
    public var limitations: [String] { [] }
    public var startRefusal: PaddockError? { nil }
}
