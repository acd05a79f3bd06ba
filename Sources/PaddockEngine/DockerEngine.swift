import Foundation
import PaddockCore

/// The Docker CLI adapter. Also drives Podman's Docker-compatible CLI when `executable` is `podman`.
public struct DockerEngine: ContainerEngine {
    public let executable: String
    public let runner: any ProcessRunner
    /// The engine's local API socket, for questions the CLI answers slowly; nil means the CLI for everything.
    public let api: DockerAPI?
    /// Where paddock writes its seccomp profile; nil keeps the engine's built-in one.
    public let stateDirectory: String?
    /// The containers-common profile paddock's is derived from. Where it is missing (Docker Desktop on a Mac, a
    /// host without Podman's files) the engine's built-in profile stays: recent ones refuse AF_VSOCK too.
    public let defaultSeccompProfile: String

    public init(
        executable: String = "docker", runner: any ProcessRunner, api: DockerAPI? = nil, stateDirectory: String? = nil,
        defaultSeccompProfile: String = "/usr/share/containers/seccomp.json"
    ) {
        self.executable = executable
        self.runner = runner
        self.api = api
        self.stateDirectory = stateDirectory
        self.defaultSeccompProfile = defaultSeccompProfile
    }

    public var name: String { (executable as NSString).lastPathComponent }

    /// Said before every session and by `doctor` when paddock's own seccomp profile cannot be made here. Linux only:
    /// a distribution's Docker can be old, while the Mac's engines (Docker Desktop and the like) run 23 or later.
    /// Only a daemon on this machine's own socket: a docker context (Docker Desktop for Linux runs a VM), or a
    /// remote DOCKER_HOST, shares files in a way that numbers them anew.
    public func mountsShowHostInodes() async -> Bool {
        guard !HostSystem.isMac, let api, !api.socketPath.contains("/.docker/desktop/") else { return false }
        return true
    }

    public var limitations: [String] {
        #if os(Linux)
            guard stateDirectory != nil, !FileManager.default.fileExists(atPath: defaultSeccompProfile) else {
                return []
            }
            return [
                "\(defaultSeccompProfile) (containers-common) is missing, so sandboxes run with Docker's built-in seccomp "
                    + "profile, which in some versions lets AF_VSOCK sockets open (Docker Engine 23 and later refuse them). "
                    + "Install containers-common (`sudo apt-get install containers-common`) for paddock's own profile."
            ]
        #else
            return []
        #endif
    }

    // MARK: argv, as pure functions tests can assert

    /// `docker run …` for a session. Every hardening flag here is a security property with a unit test.
    /// `engineOptions` follow the hardening flags: Podman's CLI takes the same flags and adds its own there.
    public static func runArguments(_ spec: ContainerSpec, engineOptions: [String] = []) -> [String] {
        var arguments = ["run", "--rm", "--name", spec.name, "--hostname", spec.hostname]
        arguments += EngineArguments.labels(spec.labels)
        if spec.detached { arguments.append("--detach") }
        if spec.interactive { arguments.append("--interactive") }
        if spec.tty { arguments.append("--tty") }
        switch spec.network {
        case .none: arguments += ["--network", "none"]
        case .host: arguments += ["--network", "host"]
        case .engineDefault: break
        }
        arguments += [
            "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--user", "\(spec.user.uid):\(spec.user.gid)",
            "--init",
            "--pids-limit", String(spec.pidsLimit),
            // The image is paddock's own build, checked just before: a missing one is an error, never a download.
            "--pull", "never",
        ]
        arguments += engineOptions
        if let memory = spec.memory { arguments += ["--memory", String(memory)] }
        if let cpus = spec.cpus { arguments += ["--cpus", String(cpus)] }
        for mount in spec.mounts {
            arguments += ["--mount", mountArgument(mount)]
        }
        for key in spec.environment.keys.sorted() {
            arguments += ["--env", "\(key)=\(spec.environment[key] ?? "")"]
        }
        for name in spec.passthroughEnvironment + spec.secretEnvironment.keys.sorted() {
            // Name only: the value comes from this process's environment, never from argv.
            arguments += ["--env", name]
        }
        arguments += ["--workdir", spec.workingDirectory, "--", spec.image]
        arguments += spec.command
        return arguments
    }

    /// One `--mount` value. Docker reads it as CSV, so a field holding a comma or quote is quoted.
    public static func mountArgument(_ mount: Mount) -> String {
        var fields = ["type=\(mount.kind == .bind ? "bind" : "volume")", "src=\(mount.source)", "dst=\(mount.target)"]
        // Podman takes `readonly` on binds only; `ro` means the same to both engines on volumes.
        if mount.readOnly { fields.append(mount.kind == .bind ? "readonly" : "ro") }
        return fields.map { field in
            field.contains(",") || field.contains("\"")
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }.joined(separator: ",")
    }

    public static func buildArguments(_ request: ImageBuildRequest) -> [String] {
        // --force-rm: the legacy builder otherwise keeps a failed step's container; a failed build leaves nothing.
        var arguments = [
            "build", "--force-rm", "--tag", request.tag, "--file", request.contextDirectory + "/Dockerfile",
        ]
        arguments += EngineArguments.labels(request.labels)
        if request.noCache { arguments.append("--no-cache") }
        if request.pull { arguments.append("--pull") }
        arguments.append(request.contextDirectory)
        return arguments
    }

    // MARK: ContainerEngine

    func docker(_ arguments: [String]) -> Command { Command(executable, arguments) }

    public func info() async throws -> EngineInfo {
        let stdout = try await Self.infoOutput(
            docker(["info", "--format", "{{json .}}"]), engine: name, runner: runner)
        return try Self.parseInfo(stdout, executable: name)
    }

    /// An engine's `info` output; any failure to get it means the engine is unavailable, with its own words why.
    static func infoOutput(_ command: Command, engine: String, runner: any ProcessRunner) async throws -> String {
        let output: ProcessOutput
        do {
            output = try await runner.capture(command)
        } catch {
            throw PaddockError.engineUnavailable(engine: engine, detail: "\(error)")
        }
        guard output.succeeded else {
            throw PaddockError.engineUnavailable(
                engine: engine, detail: output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return output.stdout
    }

    static func parseInfo(_ json: String, executable: String, hostIsMac: Bool = HostSystem.isMac) throws -> EngineInfo {
        guard let data = json.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else {
            throw PaddockError.engineUnavailable(engine: executable, detail: "`\(executable) info` printed no JSON")
        }
        let operatingSystem = object["OperatingSystem"] as? String ?? ""
        let serverName = object["Name"] as? String ?? ""
        let version = object["ServerVersion"] as? String ?? "unknown"
        let flavor: String
        if executable == "podman" || (object["host"] != nil && object["store"] != nil) {
            flavor = "Podman"
        } else if operatingSystem.contains("Docker Desktop") {
            flavor = "Docker Desktop"
        } else if serverName.lowercased().contains("colima") {
            flavor = "Colima"
        } else if operatingSystem.lowercased().contains("orbstack") || serverName.lowercased() == "orbstack" {
            flavor = "OrbStack"
        } else if let components = object["ServerVersion"] as? String, components.lowercased().contains("podman") {
            flavor = "Podman (Docker API)"
        } else {
            flavor = "Docker Engine"
        }
        let product = EngineFlavor.detect(
            EngineFlavor.Report(
                operatingSystem: operatingSystem, name: serverName, serverVersion: version,
                isPodman: flavor.hasPrefix("Podman"), hostIsMac: hostIsMac))
        return EngineInfo(
            flavor: flavor == "Docker Engine" && product != .dockerEngine ? product.rawValue : flavor,
            serverVersion: version, operatingSystem: operatingSystem, rootDirectory: object["DockerRootDir"] as? String,
            product: product)
    }

    public func imageLabel(_ image: String, label: String) async throws -> String? {
        if let api {
            do {
                return try api.imageLabels(image).map { $0[label] ?? "" }
            } catch {
                // The socket did not answer as expected: the CLI knows how to report what is wrong.
            }
        }
        let command = docker(["image", "inspect", "--format", "{{json .Config.Labels}}", "--", image])
        let output = try await runner.capture(command)
        guard output.succeeded else {
            // Only on failure, ask whether the image exists: "absent" and "the engine failed" stay apart
            // without reading error text, and the common path costs one call.
            let list = docker(["image", "ls", "--quiet", "--filter", "reference=\(image)"])
            let present = try await runner.capture(list).check(list)
            if present.stdout.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return nil }
            try output.check(command)
            return nil
        }
        return Self.label(label, inLabelsJSON: output.stdout)
    }

    public func buildImage(_ request: ImageBuildRequest, onLine: @escaping @Sendable (String) -> Void) async throws {
        try await Self.streamBuild(docker(Self.buildArguments(request)), runner: runner, onLine: onLine)
    }

    /// Runs a build, streaming its output; Podman's build prints the same way.
    static func streamBuild(_ command: Command, runner: any ProcessRunner, onLine: @escaping @Sendable (String) -> Void)
        async throws
    {
        let status = try await runner.streaming(command, onLine: onLine)
        guard status == 0 else {
            throw PaddockError.engineCommandFailed(command: command.description, status: status, stderr: "")
        }
    }

    /// One label out of `{{json .Config.Labels}}` output: "" when the image has labels but not this one (or none).
    static func label(_ label: String, inLabelsJSON json: String) -> String {
        let labels = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: String] ?? [:]
        return labels[label] ?? ""
    }

    public func images(withLabel label: String) async throws -> [ImageSummary] {
        let command = docker(["images", "--filter", "label=\(label)", "--format", "{{json .}}"])
        let output = try await runner.capture(command).check(command)
        var result: [ImageSummary] = []
        for line in output.stdout.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                continue
            }
            let repository = object["Repository"] as? String ?? ""
            let tag = object["Tag"] as? String ?? ""
            let reference = "\(repository):\(tag)"
            let hash = try await imageLabel(reference, label: label)
            result.append(
                ImageSummary(
                    reference: reference, id: object["ID"] as? String ?? "",
                    created: object["CreatedSince"] as? String ?? "", size: object["Size"] as? String ?? "",
                    contextHash: hash))
        }
        return result
    }

    public func run(_ spec: ContainerSpec) async throws -> Int32 {
        try await runner.attached(runCommand(spec, engineOptions: try seccompOptions()))
    }

    /// `docker run` with the spec's secret variables in the CLI's environment, never in its argv.
    func runCommand(_ spec: ContainerSpec, engineOptions: [String]) -> Command {
        Command(executable, Self.runArguments(spec, engineOptions: engineOptions), environment: spec.secretEnvironment)
    }

    /// Docker's built-in profile allows AF_VSOCK in some versions (Debian's 20.10 among them); paddock's own
    /// refuses it wherever the file to derive it from is here.
    func seccompOptions() throws -> [String] {
        guard let stateDirectory,
            let path = try HardenedSeccompProfile.write(
                from: defaultSeccompProfile, into: stateDirectory + "/docker", required: false)
        else { return [] }
        return ["--security-opt", "seccomp=\(path)"]
    }

    public func exec(container: String, user: String, command: [String], tty: Bool) async throws -> Int32 {
        try await runner.attached(
            docker(Self.execArguments(container: container, user: user, command: command, tty: tty)))
    }

    public static func execArguments(container: String, user: String, command: [String], tty: Bool) -> [String] {
        var arguments = ["exec", "--interactive"]
        if tty { arguments.append("--tty") }
        return arguments + ["--user", user, "--workdir", ImageRecipe.workspace, "--", container] + command
    }

    public func containers(all: Bool) async throws -> [ContainerSummary] {
        try await containers(withLabel: SessionLabels.session, all: all)
    }

    public func containers(withLabel label: String, all: Bool) async throws -> [ContainerSummary] {
        if let api, let listed = try? api.containers(label: label, all: all) {
            return listed
        }
        var arguments = ["ps", "--quiet", "--no-trunc", "--filter", "label=\(label)"]
        if all { arguments.insert("--all", at: 1) }
        let list = docker(arguments)
        let ids = try await runner.capture(list).check(list).stdout.split(separator: "\n").map(String.init)
        guard !ids.isEmpty else { return [] }
        // A container may vanish between the two calls; inspect still prints the others, so its output counts.
        let output = try await runner.capture(docker(["container", "inspect", "--"] + ids))
        return Self.parseInspect(output.stdout)
    }

    static func parseInspect(_ json: String) -> [ContainerSummary] {
        guard let array = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else {
            return []
        }
        return array.map { object in
            let config = object["Config"] as? [String: Any]
            let state = object["State"] as? [String: Any]
            let name = (object["Name"] as? String ?? "").drop(while: { $0 == "/" })
            return ContainerSummary(
                name: String(name), id: object["Id"] as? String ?? "", state: state?["Status"] as? String ?? "",
                status: state?["StartedAt"] as? String ?? "", labels: config?["Labels"] as? [String: String] ?? [:])
        }
    }

    // MARK: the gateway seam

    public func startDetached(_ spec: ContainerSpec) async throws -> Lifeline {
        try await startTied(runCommand(spec, engineOptions: try seccompOptions()), name: spec.name)
    }

    public static func volumeCreateArguments(_ name: String, labels: [String: String]) -> [String] {
        ["volume", "create"] + EngineArguments.labels(labels) + ["--", name]
    }

    /// Shared with Podman, whose volume commands take the same arguments.
    public static func volumeRemoveArguments(_ names: [String]) -> [String] {
        ["volume", "rm", "--force", "--"] + names
    }

    public static func volumeListArguments(label: String) -> [String] {
        ["volume", "ls", "--filter", "label=\(label)", "--format", "json"]
    }

    public func createVolume(_ name: String, labels: [String: String]) async throws {
        let command = docker(Self.volumeCreateArguments(name, labels: labels))
        try await runner.capture(command).check(command)
    }

    public func removeVolumes(_ names: [String]) async throws {
        guard !names.isEmpty else { return }
        let command = docker(Self.volumeRemoveArguments(names))
        try await runner.capture(command).check(command)
    }

    public func volumes(withLabel label: String) async throws -> [VolumeSummary] {
        let command = docker(Self.volumeListArguments(label: label))
        return Self.parseVolumes(try await runner.capture(command).check(command).stdout)
    }

    /// Docker prints one JSON object per line with `Labels` as `a=b,c=d`; Podman one array with a `Labels`
    /// object. Both are read here.
    static func parseVolumes(_ output: String) -> [VolumeSummary] {
        let objects: [[String: Any]]
        if let array = (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [[String: Any]] {
            objects = array
        } else {
            objects = output.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
        }
        return objects.compactMap { object in
            guard let name = object["Name"] as? String else { return nil }
            var labels: [String: String] = [:]
            if let dictionary = object["Labels"] as? [String: String] {
                labels = dictionary
            } else if let text = object["Labels"] as? String {
                for pair in text.split(separator: ",") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    labels[parts[0]] = parts.count > 1 ? parts[1] : ""
                }
            }
            return VolumeSummary(name: name, labels: labels)
        }
    }

    public func stop(container: String, timeoutSeconds: Int) async throws {
        let command = docker(["stop", "--time", String(timeoutSeconds), "--", container])
        try await runner.capture(command).check(command)
    }

    public func remove(containers: [String]) async throws {
        guard !containers.isEmpty else { return }
        let command = docker(["rm", "--force", "--"] + containers)
        let output = try await runner.capture(command)
        guard !output.succeeded else { return }
        // Already gone, or going (`--rm` removes a stopped session by itself), is fine; anything still present
        // after a few seconds is a real failure.
        for _ in 0..<50 {
            let listed = try await self.containers(all: true) + self.containers(withLabel: RelayPlan.label, all: true)
            let remaining = listed.filter { containers.contains($0.name) || containers.contains($0.id) }
            if remaining.isEmpty { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        try output.check(command)
    }
}
