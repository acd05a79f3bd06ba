import Foundation
import PaddockCore

/// The engines paddock can run a sandbox on.
public enum EngineKind: String, CaseIterable, Equatable, Sendable, Codable {
    case docker
    case podman
    case bwrap
    /// Apple's `container` (macOS): one VM per sandbox.
    case container

    public static func parse(_ value: String, source: String) throws -> EngineKind {
        guard let kind = EngineKind(rawValue: value.lowercased()) else {
            throw PaddockError.invalidArgument(
                "\(source) names the engine \"\(value)\"; use docker, podman, bwrap or container (or leave it out to choose automatically)."
            )
        }
        return kind
    }
}

/// What automatic selection needs to know about the host, gathered by `EngineProbe.live` (or made up by tests).
public struct EngineProbe: Equatable, Sendable {
    /// `docker info` answered.
    public var dockerReachable: Bool
    /// `podman info` answered.
    public var podmanReachable: Bool
    /// A `bwrap` executable is on PATH.
    public var bwrapInstalled: Bool
    public var isLinux: Bool
    public var hostIsRoot: Bool
    /// `container system status` says Apple's `container` is running (asked on a Mac only).
    public var appleContainerRunning: Bool

    public init(
        dockerReachable: Bool, podmanReachable: Bool, bwrapInstalled: Bool, isLinux: Bool, hostIsRoot: Bool,
        appleContainerRunning: Bool = false
    ) {
        self.appleContainerRunning = appleContainerRunning
        self.dockerReachable = dockerReachable
        self.podmanReachable = podmanReachable
        self.bwrapInstalled = bwrapInstalled
        self.isLinux = isLinux
        self.hostIsRoot = hostIsRoot
    }
}

/// The engine a command will use, and the sentence `doctor` prints about why.
public struct EngineChoice: Equatable, Sendable {
    public var kind: EngineKind
    public var reason: String

    public init(kind: EngineKind, reason: String) {
        self.kind = kind
        self.reason = reason
    }
}

public enum EngineSelection {
    /// Where an explicit request came from, for messages: "--engine", "engine in config.toml".
    public struct Request: Equatable, Sendable {
        public var kind: EngineKind
        public var source: String

        public init(kind: EngineKind, source: String) {
            self.kind = kind
            self.source = source
        }
    }

    /// An explicit request wins without probing (so `--engine bwrap` costs nothing). Otherwise: on a Mac, Apple's
    /// `container` when its services run (a VM per sandbox, and a socket file that connects); then a reachable
    /// Docker engine, else a reachable Podman, else bwrap when installed on Linux and not run as root (as root,
    /// bwrap's sandbox user would be root on the host). Pure, so every branch has a unit test.
    public static func choose(request: Request?, probe facts: @autoclosure () -> EngineProbe) throws -> EngineChoice {
        if let request {
            return EngineChoice(kind: request.kind, reason: "requested by \(request.source)")
        }
        let facts = facts()
        if facts.appleContainerRunning, !facts.isLinux {
            return EngineChoice(kind: .container, reason: "chosen automatically: Apple's `container` is running")
        }
        if facts.dockerReachable {
            return EngineChoice(kind: .docker, reason: "chosen automatically: a Docker engine is reachable")
        }
        if facts.podmanReachable {
            return EngineChoice(kind: .podman, reason: "chosen automatically: no Docker engine is reachable, Podman is")
        }
        if facts.bwrapInstalled, facts.isLinux, !facts.hostIsRoot {
            return EngineChoice(
                kind: .bwrap, reason: "chosen automatically: no container engine is reachable, bubblewrap is installed")
        }
        var missing = "Neither Docker nor Podman is reachable"
        if facts.bwrapInstalled, facts.hostIsRoot {
            missing += ", and bubblewrap is not used as root (the sandbox user would be root on the host)"
        } else if facts.isLinux {
            missing += ", and bubblewrap (`bwrap`) is not installed"
        }
        throw PaddockError.engineUnavailable(
            engine: "a sandbox engine",
            detail: missing
                + ". Start Docker or install Podman; on Linux `sudo apt-get install bubblewrap` is enough; then `paddock doctor`."
        )
    }

    /// Chooses for a command. An explicit request is not weighed against other engines, so `--engine bwrap` starts
    /// at once; a requested Docker is still asked whether it answers (a socket ping, about a millisecond when it
    /// does), so a stopped daemon is reported as unreachable with its fix, not as a failed engine command.
    public static func select(request: Request?, runner: any ProcessRunner, environment: [String: String]) async throws
        -> EngineChoice
    {
        if let request {
            if request.kind == .docker,
                let problem = await EngineProbe.dockerProblem(runner: runner, environment: environment)
            {
                throw PaddockError.engineUnavailable(
                    engine: "Docker (requested by \(request.source))",
                    detail: problem + " (Another engine: name it with --engine or `engine` in the configuration.)")
            }
            return EngineChoice(kind: request.kind, reason: "requested by \(request.source)")
        }
        let facts = await EngineProbe.live(runner: runner, environment: environment)
        return try choose(request: nil, probe: facts)
    }
}

extension EngineProbe {
    /// Probes in selection order and stops at the first container engine that answers (`podman info` alone can
    /// take a second); bwrap is only a PATH lookup.
    public static func live(runner: any ProcessRunner, environment: [String: String]) async -> EngineProbe {
        let path = environment["PATH"]
        // Apple's `container` first on a Mac: when it runs, nothing else is asked.
        let apple = HostSystem.isMac ? await reachableAppleContainer(runner: runner, environment: environment) : false
        if apple {
            return EngineProbe(
                dockerReachable: false, podmanReachable: false, bwrapInstalled: false, isLinux: false,
                hostIsRoot: HostProcess.userID == 0, appleContainerRunning: true)
        }
        let docker = await dockerProblem(runner: runner, environment: environment) == nil
        let podman =
            docker
            ? false
            : await reachable(
                Command(environment["PADDOCK_PODMAN"] ?? "podman", ["info", "--format", "{{.Host.Arch}}"]), runner, path
            )
        let bwrap = ExecutableLookup.find(environment["PADDOCK_BWRAP"] ?? "bwrap", path: path) != nil
        #if os(Linux) && !PADDOCK_SIMULATE_MACOS
            let isLinux = true
        #else
            let isLinux = false
        #endif
        return EngineProbe(
            dockerReachable: docker, podmanReachable: podman, bwrapInstalled: bwrap, isLinux: isLinux,
            hostIsRoot: HostProcess.userID == 0)
    }

    /// Nil when a Docker engine answers, else what is wrong, in the words of `docker` itself where it has some.
    /// A local engine answers its socket's ping in a millisecond; `docker info` (tens of ms) is asked only when the
    /// ping fails, as for a remote engine or a Docker context.
    static func dockerProblem(runner: any ProcessRunner, environment: [String: String]) async -> String? {
        let path = environment["PATH"]
        let executable = environment["PADDOCK_DOCKER"] ?? "docker"
        guard ExecutableLookup.find(executable, path: path) != nil else {
            return "`\(executable)` is not installed or not on PATH."
        }
        let socket = DockerAPI.localSocket(environment: environment, home: environment["HOME"] ?? NSHomeDirectory())
        if socket.map({ DockerAPI(socketPath: $0).ping() }) == true { return nil }
        let info = Command(executable, ["info", "--format", "{{.ServerVersion}}"])
        guard let output = try? await runner.capture(info) else { return "`\(executable) info` could not be run." }
        guard !output.succeeded else { return nil }
        let said = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        return said.isEmpty ? "`\(info)` failed with exit status \(output.status)." : said
    }

    static func reachableAppleContainer(runner: any ProcessRunner, environment: [String: String]) async -> Bool {
        let executable = environment["PADDOCK_CONTAINER"] ?? "container"
        guard let found = ExecutableLookup.find(executable, path: environment["PATH"]),
            let output = try? await runner.capture(Command(found, AppleContainerEngine.statusArguments)),
            output.succeeded
        else { return false }
        return AppleContainerEngine.isRunning(statusJSON: output.stdout)
    }

    private static func reachable(_ command: Command, _ runner: any ProcessRunner, _ path: String?) async -> Bool {
        guard ExecutableLookup.find(command.executable, path: path) != nil else {
            return false
        }
        return (try? await runner.capture(command))?.succeeded == true
    }
}

/// `which`, without a process.
public enum ExecutableLookup {
    public static func find(_ name: String, path: String?) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let directories = (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

public enum EngineFactory {
    /// The adapter for `kind`. `PADDOCK_DOCKER`, `PADDOCK_PODMAN`, `PADDOCK_BWRAP` and `PADDOCK_CONTAINER` name
    /// other executables.
    public static func make(
        _ kind: EngineKind, runner: any ProcessRunner, environment: [String: String], stateDirectory: String
    ) -> any ContainerEngine {
        switch kind {
        case .docker:
            return DockerEngine(
                executable: environment["PADDOCK_DOCKER"] ?? "docker", runner: runner,
                api: DockerAPI.localSocket(environment: environment, home: environment["HOME"] ?? NSHomeDirectory())
                    .map(DockerAPI.init(socketPath:)), stateDirectory: stateDirectory)
        case .podman:
            let cgroups = CgroupLayout.live()
            // The system's runc only: a PATH entry can lie inside a project the agent writes (direnv's `PATH_add`),
            // and the OCI runtime runs on the host.
            let runc = ExecutableLookup.find(
                "runc", path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            let executable = environment["PADDOCK_PODMAN"] ?? "podman"
            let runtime = PodmanRuntimeChoice.choose(layout: cgroups, runcPath: runc)
            return PodmanEngine(
                executable: executable, runner: runner, stateDirectory: stateDirectory, cgroups: cgroups,
                runtime: runtime,
                imageCheck: PodmanImageCheck(
                    directory: stateDirectory + "/podman/image-checks", environment: environment,
                    invocation: [executable] + runtime.globalArguments))
        case .bwrap:
            return BwrapEngine(
                executable: environment["PADDOCK_BWRAP"] ?? "bwrap", runner: runner, stateDirectory: stateDirectory,
                environment: environment)
        case .container:
            return AppleContainerEngine(executable: environment["PADDOCK_CONTAINER"] ?? "container", runner: runner)
        }
    }
}

/// Stands in when no engine could be chosen: every call fails with the selection's explanation, so commands
/// that need no engine (and `doctor`, which reports it) still run.
public struct UnavailableEngine: ContainerEngine {
    public let error: PaddockError

    public init(error: PaddockError) { self.error = error }

    public var name: String { "none" }
    public func info() async throws -> EngineInfo { throw error }
    public func imageLabel(_ image: String, label: String) async throws -> String? { throw error }
    public func buildImage(_ request: ImageBuildRequest, onLine: @escaping @Sendable (String) -> Void) async throws {
        throw error
    }
    public func images(withLabel label: String) async throws -> [ImageSummary] { throw error }
    public func run(_ spec: ContainerSpec) async throws -> Int32 { throw error }
    public func exec(container: String, user: String, command: [String], tty: Bool) async throws -> Int32 {
        throw error
    }
    public func containers(all: Bool) async throws -> [ContainerSummary] { throw error }
    public func stop(container: String, timeoutSeconds: Int) async throws { throw error }
    public func remove(containers: [String]) async throws { throw error }
}

extension CgroupLayout {
    /// This host's layout, from /proc/self/mountinfo; `.unknown` where there is none (macOS).
    public static func live() -> CgroupLayout {
        guard let mountinfo = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else {
            return .unknown
        }
        return parse(mountinfo: mountinfo) { try? String(contentsOfFile: $0, encoding: .utf8) }
    }
}
