import Foundation
import PaddockCore

/// The Podman CLI adapter, rootless first. Podman's `run`, `build` and `exec` take Docker's flags, so their argv
/// comes from `DockerEngine`'s renderers; its `info`, `ps` and `images` print their own JSON, parsed here.
public struct PodmanEngine: ContainerEngine {
    public let executable: String
    public let runner: any ProcessRunner
    /// Rootless Podman runs containers in the invoking user's user namespace; only then does keep-id apply.
    public let rootless: Bool
    /// Where paddock writes its seccomp profile (paddock's state directory); nil keeps Podman's default.
    public let stateDirectory: String?
    /// Podman's own default profile, which paddock's is derived from.
    public let defaultSeccompProfile: String
    /// The host's cgroup layout: whether limits hold, and whether crun starts anything at all.
    public let cgroups: CgroupLayout
    /// The OCI runtime for this host: Podman's own, runc where crun refuses the host, or a refusal.
    public let runtime: PodmanRuntimeChoice
    /// Remembered image answers, so a start need not run `podman image inspect`; nil asks every time.
    public let imageCheck: PodmanImageCheck?

    public init(
        executable: String = "podman", runner: any ProcessRunner, rootless: Bool = HostProcess.userID != 0,
        stateDirectory: String? = nil, defaultSeccompProfile: String = "/usr/share/containers/seccomp.json",
        cgroups: CgroupLayout = .unified, runtime: PodmanRuntimeChoice = .engineDefault,
        imageCheck: PodmanImageCheck? = nil
    ) {
        self.executable = executable
        self.runner = runner
        self.rootless = rootless
        self.stateDirectory = stateDirectory
        self.defaultSeccompProfile = defaultSeccompProfile
        self.cgroups = cgroups
        self.runtime = runtime
        self.imageCheck = imageCheck
    }

    /// What a session on this host does not get, said before it starts (and by `doctor`).
    public var limitations: [String] {
        var said: [String] = []
        if case .runc(let path) = runtime {
            said.append(
                "this host's cgroups are \(cgroups.summary); crun refuses such a host, so paddock runs Podman with runc (\(path))."
            )
        }
        if rootless, !cgroups.rootlessLimitsEnforced, cgroups != .unknown {
            said.append(
                "rootless Podman cannot enforce memory, CPU or process limits on a host with cgroup v1 controllers: "
                    + "sessions here run without them. Docker, or a host booted with cgroup v2 alone, enforces them.")
        }
        return said
    }

    public var name: String { "podman" }

    // MARK: argv, as pure functions tests can assert

    /// Docker's hardened `run`, plus `--userns=keep-id` when rootless: the host user is the same uid inside
    /// (rather than the container's root), so workspace files and the gateway socket keep their owner both ways.
    public static func runArguments(_ spec: ContainerSpec, rootless: Bool, seccompProfile: String? = nil) -> [String] {
        var options = rootless && spec.keepsHostUser ? ["--userns=keep-id"] : []
        if let seccompProfile { options += ["--security-opt", "seccomp=\(seccompProfile)"] }
        return DockerEngine.runArguments(spec, engineOptions: options)
    }

    /// Podman's default profile, hardened (see `HardenedSeccompProfile`).
    public static func hardenedSeccompProfile(fromDefault data: Data) throws -> Data {
        try HardenedSeccompProfile.derive(fromDefault: data)
    }

    func seccompProfilePath() throws -> String? {
        guard let stateDirectory else { return nil }
        return try HardenedSeccompProfile.write(
            from: defaultSeccompProfile, into: stateDirectory + "/podman", required: true)
    }

    public static func containersArguments(all: Bool, label: String = SessionLabels.session) -> [String] {
        var arguments = ["ps", "--filter", "label=\(label)", "--format", "json"]
        if all { arguments.insert("--all", at: 1) }
        return arguments
    }

    /// `--time 0`: Podman's `rm --force` otherwise waits ten seconds for SIGTERM; Docker's kills at once.
    public static func removeArguments(_ containers: [String]) -> [String] {
        ["rm", "--force", "--ignore", "--time", "0", "--"] + containers
    }

    // MARK: parsing Podman's own JSON

    static func parseInfo(_ json: String, hostIsMac: Bool = HostSystem.isMac) throws -> EngineInfo {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else {
            throw PaddockError.engineUnavailable(engine: "podman", detail: "`podman info` printed no JSON")
        }
        let host = object["host"] as? [String: Any] ?? [:]
        let version = object["version"] as? [String: Any] ?? [:]
        let security = host["security"] as? [String: Any] ?? [:]
        let distribution = host["distribution"] as? [String: Any] ?? [:]
        let rootless = security["rootless"] as? Bool ?? false
        let system = [distribution["distribution"] as? String, distribution["version"] as? String]
            .compactMap { $0 }.joined(separator: " ")
        let store = object["store"] as? [String: Any] ?? [:]
        return EngineInfo(
            flavor: rootless ? "Podman (rootless)" : "Podman",
            serverVersion: version["Version"] as? String ?? "unknown",
            operatingSystem: system.isEmpty ? (host["os"] as? String ?? "") : system,
            rootDirectory: store["graphRoot"] as? String,
            product: EngineFlavor.detect(
                EngineFlavor.Report(
                    isPodman: true, podmanRemote: host["serviceIsRemote"] as? Bool ?? false, hostIsMac: hostIsMac)))
    }

    static func parseContainers(_ json: String) -> [ContainerSummary] {
        guard let array = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]] else {
            return []
        }
        return array.map { object in
            let names = object["Names"] as? [String] ?? []
            let started = (object["StartedAt"] as? NSNumber).map { Date(timeIntervalSince1970: $0.doubleValue) }
            return ContainerSummary(
                name: names.first ?? "", id: object["Id"] as? String ?? "", state: object["State"] as? String ?? "",
                status: started.map { ISO8601DateFormatter().string(from: $0) } ?? "",
                labels: object["Labels"] as? [String: String] ?? [:])
        }
    }

    static func parseImages(_ json: String, label: String) -> [ImageSummary] {
        guard let array = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]] else {
            return []
        }
        let sizes = ByteCountFormatter()
        sizes.countStyle = .decimal
        return array.flatMap { object -> [ImageSummary] in
            let labels = object["Labels"] as? [String: String] ?? [:]
            let created = object["CreatedAt"] as? String ?? ""
            let size = (object["Size"] as? NSNumber).map { sizes.string(fromByteCount: $0.int64Value) } ?? ""
            let id = String((object["Id"] as? String ?? "").prefix(12))
            return (object["Names"] as? [String] ?? []).map { name in
                // Podman names local images localhost/…; paddock tags them without a registry.
                let reference = name.hasPrefix("localhost/") ? String(name.dropFirst("localhost/".count)) : name
                return ImageSummary(
                    reference: reference, id: id, created: created, size: size, contextHash: labels[label])
            }
        }
    }

    // MARK: ContainerEngine

    func podman(_ arguments: [String]) -> Command { Command(executable, runtime.globalArguments + arguments) }

    public var startRefusal: PaddockError? {
        if case .refused(let error) = runtime { return error }
        return nil
    }

    /// Called before anything that starts a container: a host crun refuses, with no runc, starts nothing.
    func checkRuntime() throws {
        if let startRefusal { throw startRefusal }
    }

    public func info() async throws -> EngineInfo {
        try Self.parseInfo(
            try await DockerEngine.infoOutput(podman(["info", "--format", "json"]), engine: name, runner: runner))
    }

    public func imageLabel(_ image: String, label: String) async throws -> String? {
        guard let imageCheck else { return try await inspectLabel(image, label: label) }
        if let remembered = imageCheck.remembered(image: image, label: label) { return remembered }
        guard let graphRoot = try? await info().rootDirectory, let stamp = imageCheck.stamp(graphRoot: graphRoot) else {
            return try await inspectLabel(image, label: label)
        }
        let value = try await inspectLabel(image, label: label)
        if let value {
            imageCheck.remember(image: image, label: label, value: value, graphRoot: graphRoot, stamp: stamp)
        }
        return value
    }

    func inspectLabel(_ image: String, label: String) async throws -> String? {
        let command = podman(["image", "inspect", "--format", "{{json .Config.Labels}}", "--", image])
        let output = try await runner.capture(command)
        guard output.succeeded else {
            // `image exists` answers by exit status alone: 1 absent, anything else a failing engine.
            let exists = podman(["image", "exists", "--", image])
            let answer = try await runner.capture(exists)
            if answer.status == 1 { return nil }
            try output.check(command)
            return nil
        }
        return DockerEngine.label(label, inLabelsJSON: output.stdout)
    }

    public func buildImage(_ request: ImageBuildRequest, onLine: @escaping @Sendable (String) -> Void) async throws {
        try checkRuntime()
        try await DockerEngine.streamBuild(podman(DockerEngine.buildArguments(request)), runner: runner, onLine: onLine)
    }

    public func images(withLabel label: String) async throws -> [ImageSummary] {
        let command = podman(["images", "--filter", "label=\(label)", "--format", "json"])
        return Self.parseImages(try await runner.capture(command).check(command).stdout, label: label)
    }

    public func run(_ spec: ContainerSpec) async throws -> Int32 {
        try checkRuntime()
        return try await runner.attached(try runCommand(spec))
    }

    /// `podman run` with the spec's secret variables in the CLI's environment, never in its argv.
    func runCommand(_ spec: ContainerSpec) throws -> Command {
        var command = podman(Self.runArguments(spec, rootless: rootless, seccompProfile: try seccompProfilePath()))
        command.environment = spec.secretEnvironment
        return command
    }

    public func exec(container: String, user: String, command: [String], tty: Bool) async throws -> Int32 {
        try await runner.attached(
            podman(DockerEngine.execArguments(container: container, user: user, command: command, tty: tty)))
    }

    public func containers(all: Bool) async throws -> [ContainerSummary] {
        try await containers(withLabel: SessionLabels.session, all: all)
    }

    public func stop(container: String, timeoutSeconds: Int) async throws {
        let command = podman(["stop", "--time", String(timeoutSeconds), "--", container])
        try await runner.capture(command).check(command)
    }

    public func remove(containers: [String]) async throws {
        guard !containers.isEmpty else { return }
        let command = podman(Self.removeArguments(containers))
        try await runner.capture(command).check(command)
    }

    // MARK: the gateway seam

    public func engineFlavor() async -> EngineFlavor {
        #if os(Linux) && !PADDOCK_SIMULATE_MACOS
            return .podman
        #else
            return (try? await info().product) ?? .podmanMachine
        #endif
    }

    public func startDetached(_ spec: ContainerSpec) async throws -> Lifeline {
        try checkRuntime()
        return try await startTied(try runCommand(spec), name: spec.name)
    }

    public func containers(withLabel label: String, all: Bool) async throws -> [ContainerSummary] {
        let command = podman(Self.containersArguments(all: all, label: label))
        return Self.parseContainers(try await runner.capture(command).check(command).stdout)
    }

    public func createVolume(_ name: String, labels: [String: String]) async throws {
        let command = podman(DockerEngine.volumeCreateArguments(name, labels: labels))
        try await runner.capture(command).check(command)
    }

    public func removeVolumes(_ names: [String]) async throws {
        guard !names.isEmpty else { return }
        let command = podman(DockerEngine.volumeRemoveArguments(names))
        try await runner.capture(command).check(command)
    }

    public func volumes(withLabel label: String) async throws -> [VolumeSummary] {
        let command = podman(DockerEngine.volumeListArguments(label: label))
        return DockerEngine.parseVolumes(try await runner.capture(command).check(command).stdout)
    }
}
