import Foundation
import PaddockCore

#if canImport(Glibc)
    import Glibc
#endif

/// The bubblewrap adapter: no daemon and no image. The agent runs on the host's own userland, read-only, in new
/// namespaces of every kind under a seccomp filter; paddock tracks its sandboxes in its state directory.
public struct BwrapEngine: ContainerEngine {
    public let executable: String
    public let runner: any ProcessRunner
    /// paddock's state directory: sandboxes are tracked in `bwrap/`, agent homes live in `homes/`.
    public let stateDirectory: String
    /// The launcher's environment, where passed-through variables take their values from.
    public let environment: [String: String]

    public init(
        executable: String = "bwrap", runner: any ProcessRunner, stateDirectory: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.executable = executable
        self.runner = runner
        self.stateDirectory = stateDirectory
        self.environment = environment
    }

    public var name: String { "bwrap" }
    public var capabilities: EngineCapabilities { .bubblewrap }
    public func engineFlavor() async -> EngineFlavor { .bubblewrap }

    public var sandboxesDirectory: String { stateDirectory + "/bwrap" }
    public var homesDirectory: String { stateDirectory + "/homes" }

    func sandboxPaths(_ name: String) throws -> BwrapSandboxPaths {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/") else {
            throw PaddockError.invalidArgument("\(name.debugDescription) is not a sandbox name.")
        }
        return BwrapSandboxPaths(directory: sandboxesDirectory + "/" + name)
    }

    /// What `ps` and orphan detection read back: the bwrap process and the labels the spec carried.
    struct Record: Codable, Equatable {
        var name: String
        var pid: Int32
        var startToken: String
        var labels: [String: String]
        var startedAt: Date
    }

    // MARK: ContainerEngine

    public func info() async throws -> EngineInfo {
        let output: ProcessOutput
        do {
            output = try await runner.capture(Command(executable, ["--version"]))
        } catch {
            throw PaddockError.engineUnavailable(
                engine: name, detail: "bubblewrap is not installed; `sudo apt-get install bubblewrap`")
        }
        guard output.succeeded else {
            throw PaddockError.engineUnavailable(
                engine: name, detail: output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let version = output.stdout.split(separator: " ").last.map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var system = utsname()
        uname(&system)
        let release = withUnsafeBytes(of: &system.release) {
            String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return EngineInfo(
            flavor: "bubblewrap", serverVersion: version ?? "unknown", operatingSystem: "Linux \(release)")
    }

    static func noImage() -> PaddockError {
        PaddockError.invalidArgument(
            "The bwrap engine uses no image: the agent runs on this machine's own programs, read-only. Install what it needs on the host, or use --engine docker or podman for an image."
        )
    }

    public func imageLabel(_ image: String, label: String) async throws -> String? { throw Self.noImage() }

    public func buildImage(_ request: ImageBuildRequest, onLine: @escaping @Sendable (String) -> Void) async throws {
        throw Self.noImage()
    }

    public func images(withLabel label: String) async throws -> [ImageSummary] { [] }

    public func run(_ spec: ContainerSpec) async throws -> Int32 {
        guard HostProcess.userID != 0 else {
            throw PaddockError.invalidArgument(
                "bubblewrap maps the sandbox user to the user who starts it, and as root that is root on the host. Run paddock as an ordinary user, or use --engine docker or podman."
            )
        }
        guard let bwrap = ExecutableLookup.find(executable, path: environment["PATH"]) else {
            throw PaddockError.engineUnavailable(
                engine: name, detail: "`\(executable)` is not on PATH; `sudo apt-get install bubblewrap`")
        }
        guard let architecture = SeccompFilter.Architecture.current else {
            throw PaddockError.invalidArgument(
                "paddock's seccomp filter covers x86_64 and aarch64 only; use --engine docker or podman.")
        }
        let paths = try sandboxPaths(spec.name)
        let secrets = Self.secretArguments(spec, environment: environment)
        let (arguments, options) = Self.spawnArguments(
            try Self.runArguments(spec, layout: HostLayout.probe(), sandbox: paths, homesDirectory: homesDirectory),
            secrets: secrets)
        try prepare(spec, paths: paths, filter: SeccompFilter.compile(for: architecture))
        defer { try? FileManager.default.removeItem(atPath: paths.directory) }

        let seccomp = open(paths.seccomp, O_RDONLY | O_CLOEXEC)
        guard seccomp >= 0 else {
            throw PaddockError.fileSystem(
                path: paths.seccomp, message: "cannot open the seccomp filter: \(String(cString: strerror(errno)))")
        }
        defer { close(seccomp) }
        let optionsPipe = try Self.channelHolding(options)
        defer { close(optionsPipe) }
        let relay = try StdioRelay()
        let descriptors: [(child: Int32, parent: Int32)] =
            [(Self.seccompDescriptor, seccomp), (Self.optionsDescriptor, optionsPipe)] + relay.childDescriptors

        // bwrap itself gets only PATH: the sandbox's environment is built by --clearenv/--setenv/--args.
        let bwrapEnvironment = ["PATH=" + (environment["PATH"] ?? "/usr/bin:/bin")]
        let record = paths.record
        let stopRequested = paths.stopRequested
        let labels = spec.labels
        let name = spec.name
        let status: Int32
        do {
            status = try await HostSpawn.run(
                executable: bwrap, arguments: arguments, environment: bwrapEnvironment, descriptors: descriptors
            ) { child in
                relay.childStarted()
                let entry = Record(
                    name: name, pid: child.pid, startToken: HostProcess.startToken(pid: child.pid), labels: labels,
                    startedAt: Date())
                try? Self.store(entry, to: record)
                // A teardown that came before the record existed left this marker instead of a pid to kill.
                if FileManager.default.fileExists(atPath: stopRequested) { Self.deliver(SIGKILL, to: entry) }
            }
        } catch {
            relay.childStarted()
            relay.drain()
            throw error
        }
        relay.drain()
        return status
    }

    /// The sandbox's files: its /etc, the seccomp program, and the agent's home directory (kept across sessions).
    func prepare(_ spec: ContainerSpec, paths: BwrapSandboxPaths, filter: SeccompFilter) throws {
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(
                atPath: paths.etc, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            for (file, content) in Self.etcFiles(spec) {
                try content.write(toFile: paths.etc + "/" + file, atomically: false, encoding: .utf8)
            }
            try Data(filter.bytes).write(to: URL(fileURLWithPath: paths.seccomp))
            try fileManager.createDirectory(
                atPath: homesDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            for mount in spec.mounts where mount.kind == .volume {
                let home = try Self.homeDirectory(volume: mount.source, homesDirectory: homesDirectory)
                if !fileManager.fileExists(atPath: home) {
                    try fileManager.createDirectory(
                        atPath: home, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                }
            }
        } catch let error as PaddockError {
            throw error
        } catch {
            throw PaddockError.fileSystem(path: paths.directory, message: "cannot prepare the sandbox: \(error)")
        }
    }

    /// A socket whose other end holds `content` in full, written before bwrap starts: a failed start then cannot
    /// leave the launcher blocked on a write. Both ends are close-on-exec from birth, so no other child the launcher
    /// starts meanwhile can hold the write end open and keep bwrap waiting for the end of its arguments.
    static func channelHolding(_ content: String) throws -> Int32 {
        var ends: [Int32] = [0, 0]
        #if os(Linux)
            let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
            let type = SOCK_STREAM
        #endif
        guard socketpair(AF_UNIX, type, 0, &ends) == 0 else {
            throw PaddockError.other("cannot create a socket pair: \(String(cString: strerror(errno)))")
        }
        defer { close(ends[1]) }
        _ = shutdown(ends[0], Int32(SHUT_WR))
        _ = fcntl(ends[1], F_SETFL, fcntl(ends[1], F_GETFL) | O_NONBLOCK)
        let bytes = Array(content.utf8)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(ends[1], $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                close(ends[0])
                throw PaddockError.invalidArgument(
                    "bwrap's options and the variables passed to the sandbox are too large (\(bytes.count) bytes); pass fewer with `env`, or fewer `mounts`."
                )
            }
            written += count
        }
        return ends[0]
    }

    public func exec(container: String, user: String, command: [String], tty: Bool) async throws -> Int32 {
        throw PaddockError.invalidArgument(
            "`paddock exec` cannot enter a bubblewrap sandbox: joining its namespaces from outside would skip its seccomp filter. Open another session with `paddock shell --engine bwrap`, or use --engine docker or podman."
        )
    }

    public func containers(all: Bool) async throws -> [ContainerSummary] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: sandboxesDirectory)) ?? []
        return names.sorted().compactMap { name -> ContainerSummary? in
            guard let paths = try? sandboxPaths(name), let entry = Self.read(paths.record) else { return nil }
            let running = Self.isRunning(entry)
            guard all || running else { return nil }
            return ContainerSummary(
                name: entry.name, id: String(entry.pid), state: running ? "running" : "exited",
                status: ISO8601DateFormatter().string(from: entry.startedAt), labels: entry.labels)
        }
    }

    public func stop(container: String, timeoutSeconds: Int) async throws {
        let paths = try sandboxPaths(container)
        guard let entry = Self.read(paths.record) else {
            throw PaddockError.notFound("No bwrap sandbox named \(container).")
        }
        // bwrap dies of SIGTERM, and --die-with-parent takes everything inside with it.
        Self.deliver(SIGTERM, to: entry)
        let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
        while Self.isRunning(entry), Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        Self.deliver(SIGKILL, to: entry)
    }

    public func remove(containers: [String]) async throws {
        for container in containers {
            let paths = try sandboxPaths(container)
            guard FileManager.default.fileExists(atPath: paths.directory) else { continue }
            if let entry = Self.read(paths.record) {
                Self.deliver(SIGKILL, to: entry)
            } else {
                // Not started yet: leave word for the spawning thread, then look again in case it just wrote.
                _ = FileManager.default.createFile(atPath: paths.stopRequested, contents: nil)
                if let entry = Self.read(paths.record) { Self.deliver(SIGKILL, to: entry) }
            }
            // The launcher removes the directory when bwrap exits; a dead launcher's sandbox is removed here.
            guard let entry = Self.read(paths.record), !Self.launcherAlive(entry) else { continue }
            let deadline = Date().addingTimeInterval(5)
            while Self.isRunning(entry), Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            try? FileManager.default.removeItem(atPath: paths.directory)
        }
    }

    /// Alive and not a zombie: a bwrap whose parent died may wait unreaped for a while, running nothing.
    static func isRunning(_ entry: Record) -> Bool {
        guard HostProcess.isAlive(pid: entry.pid, startToken: entry.startToken) else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(entry.pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    static func launcherAlive(_ entry: Record) -> Bool {
        guard let pid = entry.labels[SessionLabels.launcherPID].flatMap(Int32.init) else { return false }
        return HostProcess.isAlive(pid: pid, startToken: entry.labels[SessionLabels.launcherStart])
    }

    /// Signals bwrap's process group (bwrap leads it), only while the pid still belongs to that bwrap.
    static func deliver(_ signal: Int32, to entry: Record) {
        guard entry.pid > 1, isRunning(entry) else { return }
        _ = kill(-entry.pid, signal)
        _ = kill(entry.pid, signal)
    }

    static func read(_ path: String) -> Record? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(Record.self, from: data)
    }

    static func store(_ entry: Record, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(entry).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
