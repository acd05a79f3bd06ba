import Foundation
import PaddockCore

/// Apple's `container` CLI (macOS, one lightweight VM per container). Flags and JSON follow apple/container 1.1.0
/// (`Sources/Services/ContainerAPIService/Client/Flags.swift`, `Parser.swift`, `Sources/ContainerResource/…`).
/// Not run on a Mac by anyone yet: the argv and the parsing are tested against fixtures that follow that source.
///
/// What differs from Docker: binds go through `--volume SRC:DST[:ro]` (its `--mount type=bind` takes folders
/// only, and a socket file bound with `--volume` is what it relays over vsock); `--cpus` is a whole number;
/// `--memory` takes a size with a suffix; there is no `--hostname`, no `no-new-privileges`, no pids limit and no
/// seccomp profile: the VM around each sandbox stands in (`EngineCapabilities.appleContainer`).
public struct AppleContainerEngine: ContainerEngine {
    public let executable: String
    public let runner: any ProcessRunner

    public init(executable: String = "container", runner: any ProcessRunner) {
        self.executable = executable
        self.runner = runner
    }

    public var name: String { "container" }
    public var capabilities: EngineCapabilities { .appleContainer }
    public func engineFlavor() async -> EngineFlavor { .appleContainer }

    public var limitations: [String] {
        EngineCapabilities.appleContainer.hardeningNotes
    }

    // MARK: argv, as pure functions tests can assert

    /// `container run …`. Throws where the CLI's syntax cannot carry a value safely (a `:` or `,` in a path
    /// would split `--volume`), rather than mount something else.
    public static func runArguments(_ spec: ContainerSpec) throws -> [String] {
        var arguments = ["run", "--rm", "--name", spec.name]
        arguments += EngineArguments.labels(spec.labels)
        if spec.detached { arguments.append("--detach") }
        if spec.interactive { arguments.append("--interactive") }
        if spec.tty { arguments.append("--tty") }
        switch spec.network {
        case .none: arguments += ["--network", "none"]
        case .engineDefault: break
        case .host:
            throw PaddockError.invalidArgument(
                "Apple `container` has no host network (each container is its own VM); its relay reaches the host by name."
            )
        }
        arguments += ["--cap-drop", "ALL", "--user", "\(spec.user.uid):\(spec.user.gid)", "--init"]
        if let memory = spec.memory { arguments += ["--memory", "\(max(1, (memory + (1 << 20) - 1) >> 20))M"] }
        if let cpus = spec.cpus { arguments += ["--cpus", String(max(1, Int(cpus.rounded(.up))))] }
        for mount in spec.mounts {
            arguments += ["--volume", try volumeArgument(mount)]
        }
        for key in spec.environment.keys.sorted() {
            arguments += ["--env", "\(key)=\(spec.environment[key] ?? "")"]
        }
        for name in spec.passthroughEnvironment + spec.secretEnvironment.keys.sorted() {
            // Name only: `container` takes the value from this process's environment.
            arguments += ["--env", name]
        }
        arguments += ["--workdir", spec.workingDirectory, "--", spec.image]
        return arguments + spec.command
    }

    /// `SRC:DST[:ro]`; `container` tells a volume name from a host path by the `/` in it.
    public static func volumeArgument(_ mount: Mount) throws -> String {
        for part in [mount.source, mount.target] where part.contains(":") || part.contains(",") {
            throw PaddockError.invalidArgument(
                "Apple `container` cannot mount \(SafeText.quoted(part)): its --volume syntax splits on `:` and `,`. Rename it or use another engine."
            )
        }
        if mount.kind == .bind, !mount.source.hasPrefix("/") {
            throw PaddockError.invalidArgument(
                "Apple `container` needs an absolute host path, not \(SafeText.quoted(mount.source)).")
        }
        return mount.source + ":" + mount.target + (mount.readOnly ? ":ro" : "")
    }

    public static func buildArguments(_ request: ImageBuildRequest) -> [String] {
        var arguments = ["build", "--tag", request.tag, "--file", request.contextDirectory + "/Dockerfile"]
        arguments += EngineArguments.labels(request.labels)
        if request.noCache { arguments.append("--no-cache") }
        if request.pull { arguments.append("--pull") }
        return arguments + [request.contextDirectory]
    }

    public static func execArguments(container: String, user: String, command: [String], tty: Bool) -> [String] {
        var arguments = ["exec", "--interactive"]
        if tty { arguments.append("--tty") }
        return arguments + ["--user", user, "--workdir", ImageRecipe.workspace, container] + command
    }

    public static let listArguments = ["ls", "--all", "--format", "json"]
    public static func removeArguments(_ containers: [String]) -> [String] { ["rm", "--force"] + containers }
    public static func stopArguments(_ container: String, timeoutSeconds: Int) -> [String] {
        ["stop", "--time", String(timeoutSeconds), container]
    }
    public static func volumeCreateArguments(_ name: String, labels: [String: String]) -> [String] {
        ["volume", "create"] + EngineArguments.labels(labels) + [name]
    }
    public static func volumeRemoveArguments(_ names: [String]) -> [String] { ["volume", "rm"] + names }
    public static let volumeListArguments = ["volume", "ls", "--format", "json"]
    public static let statusArguments = ["system", "status", "--format", "json"]

    // MARK: parsing `container`'s JSON

    /// `container ls --format json` and `container inspect`: an array of ManagedContainer, each
    /// `{"id", "configuration": {"id", "labels", "image": {"reference"}, …}, "status": {"state", "startedDate"}}`
    /// (apple/container 1.1.0 `Sources/ContainerResource/Container/ManagedContainer.swift`, `ContainerStatus.swift`).
    /// The container's name is its id.
    static func parseContainers(_ json: String) -> [ContainerSummary] {
        guard let array = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]] else {
            return []
        }
        return array.compactMap { object in
            let configuration = object["configuration"] as? [String: Any] ?? [:]
            guard let id = object["id"] as? String ?? configuration["id"] as? String else { return nil }
            let status = object["status"] as? [String: Any] ?? [:]
            return ContainerSummary(
                name: id, id: id, state: status["state"] as? String ?? "",
                status: status["startedDate"] as? String ?? "",
                labels: configuration["labels"] as? [String: String] ?? [:])
        }
    }

    /// `container volume ls --format json`: `[{"id", "configuration": {"name", "labels", …}}]`
    /// (1.1.0 `Sources/ContainerResource/Volume/VolumeResource.swift`, `VolumeConfiguration.swift`).
    static func parseVolumes(_ json: String) -> [VolumeSummary] {
        guard let array = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]] else {
            return []
        }
        return array.compactMap { object in
            let configuration = object["configuration"] as? [String: Any] ?? [:]
            guard let name = configuration["name"] as? String ?? object["id"] as? String else { return nil }
            return VolumeSummary(name: name, labels: configuration["labels"] as? [String: String] ?? [:])
        }
    }

    /// `container image inspect`: `[{"configuration": {"name", …}, "variants": [{"config": <OCI image config>}]}]`
    /// (1.1.0 `Sources/ContainerResource/Image/ImageResource.swift`); labels are the OCI config's `config.Labels`.
    static func parseImageLabels(_ json: String) -> [String: String]? {
        guard let array = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]],
            let image = array.first
        else { return nil }
        let variants = image["variants"] as? [[String: Any]] ?? []
        for variant in variants {
            if let config = (variant["config"] as? [String: Any])?["config"] as? [String: Any] {
                return config["Labels"] as? [String: String] ?? [:]
            }
        }
        return [:]
    }

    /// `container system status --format json`: `{"status": "running", …}` when its services are up.
    public static func isRunning(statusJSON json: String) -> Bool {
        let object = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
        return object?["status"] as? String == "running"
    }

    // MARK: ContainerEngine

    func container(_ arguments: [String]) -> Command { Command(executable, arguments) }

    public func info() async throws -> EngineInfo {
        let output = try await DockerEngine.infoOutput(container(Self.statusArguments), engine: name, runner: runner)
        guard Self.isRunning(statusJSON: output) else {
            throw PaddockError.engineUnavailable(
                engine: "Apple container",
                detail: "`container system status` says it is not running. Start it with `container system start`.")
        }
        let object = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any] ?? [:]
        return EngineInfo(
            flavor: "Apple container", serverVersion: object["apiServerVersion"] as? String ?? "unknown",
            operatingSystem: "macOS", rootDirectory: object["appRoot"] as? String, product: .appleContainer)
    }

    public func imageLabel(_ image: String, label: String) async throws -> String? {
        let output = try await runner.capture(container(["image", "inspect", image]))
        // `image inspect` fails for a missing image; a failing engine fails `ls` as well, which says so.
        guard output.succeeded else {
            let list = container(["image", "ls", "--format", "json"])
            try await runner.capture(list).check(list)
            return nil
        }
        return Self.parseImageLabels(output.stdout).map { $0[label] ?? "" }
    }

    public func buildImage(_ request: ImageBuildRequest, onLine: @escaping @Sendable (String) -> Void) async throws {
        try await DockerEngine.streamBuild(container(Self.buildArguments(request)), runner: runner, onLine: onLine)
    }

    public func images(withLabel label: String) async throws -> [ImageSummary] {
        // `container image ls` prints no labels; paddock's own images are named by their tag prefix instead.
        []
    }

    public func run(_ spec: ContainerSpec) async throws -> Int32 {
        try await runner.attached(try runCommand(spec))
    }

    /// `container run` with the spec's secret variables in the CLI's environment, never in its argv.
    func runCommand(_ spec: ContainerSpec) throws -> Command {
        Command(executable, try Self.runArguments(spec), environment: spec.secretEnvironment)
    }

    public func exec(container name: String, user: String, command: [String], tty: Bool) async throws -> Int32 {
        try await runner.attached(
            container(Self.execArguments(container: name, user: user, command: command, tty: tty)))
    }

    public func containers(all: Bool) async throws -> [ContainerSummary] {
        try await containers(withLabel: SessionLabels.session, all: all)
    }

    /// `container ls` has no label filter: paddock filters what it prints.
    public func containers(withLabel label: String, all: Bool) async throws -> [ContainerSummary] {
        let command = container(Self.listArguments)
        return Self.parseContainers(try await runner.capture(command).check(command).stdout).filter {
            $0.labels[label] != nil && (all || $0.state == "running")
        }
    }

    public func stop(container name: String, timeoutSeconds: Int) async throws {
        let command = container(Self.stopArguments(name, timeoutSeconds: timeoutSeconds))
        try await runner.capture(command).check(command)
    }

    public func remove(containers names: [String]) async throws {
        guard !names.isEmpty else { return }
        let present = Set(
            try await containers(withLabel: SessionLabels.session, all: true).map(\.name)
                + (try await containers(withLabel: RelayPlan.label, all: true).map(\.name)))
        let existing = names.filter(present.contains)
        guard !existing.isEmpty else { return }
        let command = container(Self.removeArguments(existing))
        try await runner.capture(command).check(command)
    }

    public func startDetached(_ spec: ContainerSpec) async throws -> Lifeline {
        try await startTied(try runCommand(spec), name: spec.name)
    }

    public func createVolume(_ name: String, labels: [String: String]) async throws {
        let command = container(Self.volumeCreateArguments(name, labels: labels))
        try await runner.capture(command).check(command)
    }

    public func removeVolumes(_ names: [String]) async throws {
        let present = Set(try await volumes(withLabel: RelayPlan.label).map(\.name))
        let existing = names.filter(present.contains)
        guard !existing.isEmpty else { return }
        let command = container(Self.volumeRemoveArguments(existing))
        try await runner.capture(command).check(command)
    }

    public func volumes(withLabel label: String) async throws -> [VolumeSummary] {
        let command = container(Self.volumeListArguments)
        return Self.parseVolumes(try await runner.capture(command).check(command).stdout).filter {
            $0.labels[label] != nil
        }
    }
}
