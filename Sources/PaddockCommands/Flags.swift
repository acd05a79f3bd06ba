import ArgumentParser
import PaddockCore
import PaddockEngine
import PaddockSession

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Flag(
        name: .long,
        help:
            "Show detailed logs on stderr: each process paddock runs and each stage of a session, with timings (also PADDOCK_DEBUG=1)."
    )
    var debug = false
}

extension AppContext {
    static func live(_ options: GlobalOptions) -> AppContext { live(debug: options.debug) }

    static func live(_ options: GlobalOptions, engine flag: String?) async throws -> AppContext {
        try await live(debug: options.debug, engine: flag)
    }
}

/// The session layer of configuration: flags that override the global and project files.
struct SessionOptions: ParsableArguments {
    @Option(name: .long, help: "The agent to run: claude (default), codex, gemini or shell.")
    var agent: String?

    @Option(
        name: .long,
        help:
            "The sandbox engine: docker, podman, bwrap or container (default: `engine` in the configuration, else the first of them that is available)."
    )
    var engine: String?

    @Option(
        name: .long,
        help:
            "How the sandbox reaches the gateway: folder, socket-file or relay (default: `gateway_transport` in the configuration, else the engine's own way)."
    )
    var gatewayTransport: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "An extra host path to show read-only (add :rw for read-write).", valueName: "path[:target][:rw]"))
    var mount: [String] = []

    @Option(name: .long, help: ArgumentHelp("A host environment variable to pass through.", valueName: "name"))
    var env: [String] = []

    @Option(name: .long, help: "CPU limit, for example 2 or 1.5.")
    var cpus: Double?

    @Option(name: .long, help: "Memory limit, for example 4g or 512m.")
    var memory: String?

    @Option(name: .long, help: "Process limit inside the sandbox.")
    var pids: Int?

    @Option(
        name: .long,
        help:
            "mount (default): the project itself at /workspace. clone: a per-session clone whose commits come back as the branch paddock/<session>."
    )
    var isolate: String?

    @Flag(name: .long, help: "With --isolate clone: bring the project's uncommitted changes into the clone.")
    var carry = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A repository to put at /workspace/<name> (repeatable) instead of the project.", valueName: "path"))
    var repo: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Also let the sandbox reach this host for this session (repeatable).", valueName: "host[:port]"))
    var allow: [String] = []

    @Flag(name: .long, help: "No network at all: no gateway, not even the agent's own hosts.")
    var offline = false

    @Flag(
        name: .long,
        help: "Mount paths paddock refuses by default (the home folder, ~/.ssh, engine sockets, …). Dangerous.")
    var allowDangerousMounts = false

    func validate() throws {
        if let cpus, cpus <= 0 { throw ValidationError("--cpus must be a positive number.") }
        if let pids, pids <= 0 { throw ValidationError("--pids must be a positive number.") }
        if let memory, ByteSize.parse(memory) == nil {
            throw ValidationError("--memory takes a size such as 4g or 512m, not \(memory).")
        }
        for name in env where !EnvironmentName.isValid(name) {
            throw ValidationError("--env takes a variable name, not \(name).")
        }
        for spec in mount { _ = try Self.parseMount(spec) }
        for host in allow {
            do {
                _ = try NetworkRule(parsing: host)
            } catch {
                throw ValidationError("--allow \(host): \(error)")
            }
        }
        if offline, !allow.isEmpty { throw ValidationError("--offline and --allow contradict each other.") }
        if let engine, !EngineKind.allCases.map(\.rawValue).contains(engine.lowercased()) {
            throw ValidationError("--engine takes docker, podman, bwrap or container, not \(engine).")
        }
        if let gatewayTransport, GatewayTransport(rawValue: gatewayTransport) == nil {
            throw ValidationError("--gateway-transport takes folder, socket-file or relay, not \(gatewayTransport).")
        }
        if let isolate, !["mount", "clone"].contains(isolate) {
            throw ValidationError("--isolate takes mount or clone, not \(isolate).")
        }
    }

    /// `path`, `path:rw`, `path:/target` or `path:/target:rw`.
    static func parseMount(_ spec: String) throws -> MountConfig {
        var parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var readWrite = false
        if parts.count > 1, parts.last == "rw" || parts.last == "ro" {
            readWrite = parts.removeLast() == "rw"
        }
        guard let path = parts.first, !path.isEmpty, parts.count <= 2 else {
            throw ValidationError("--mount takes path[:target][:rw], not \(spec).")
        }
        let target = parts.count == 2 ? parts[1] : nil
        if let target, !target.hasPrefix("/") {
            throw ValidationError("--mount target \(target) must be an absolute path inside the sandbox.")
        }
        return MountConfig(path: path, target: target, readWrite: readWrite)
    }

    /// The session these flags ask for; `command` replaces the agent's (`paddock shell`).
    func launchRequest(command: [String]? = nil, agentArguments: [String] = []) -> LaunchRequest {
        LaunchRequest(
            flags: configLayer, engine: engine, carry: carry, repositories: repo,
            allowDangerousMounts: allowDangerousMounts, command: command, agentArguments: agentArguments)
    }

    var configLayer: PaddockConfig {
        var layer = PaddockConfig()
        layer.agent = agent
        layer.isolate = isolate
        layer.gatewayTransport = gatewayTransport
        layer.network.allow = allow
        if offline { layer.network.offline = true }
        layer.mounts = mount.compactMap { try? Self.parseMount($0) }
        layer.env = env
        layer.resources = ResourceConfig(cpus: cpus, memory: memory.flatMap(ByteSize.parse), pids: pids)
        return layer
    }
}
