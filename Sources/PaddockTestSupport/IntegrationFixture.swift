import Foundation
import PaddockCore
import PaddockEngine

// A user's static build of the whole package (`swift build --static-swift-stdlib`) has no Testing module; the
// README's install line builds only the paddock product, and this keeps the rest building too.
#if canImport(Testing)
    import Testing
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// The engines the engine-independent scenarios run on, each as a test argument.
public enum TestEngine: String, CaseIterable, Sendable, Codable {
    case docker
    case podman
    case bwrap
}

/// The environment the integration suite runs in, as `scripts/test.sh` prepares it.
public enum IntegrationEnvironment {
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The local base image tests build from (the product's default stays debian:bookworm-slim).
    public static var baseImage: String {
        ProcessInfo.processInfo.environment["PADDOCK_TEST_BASE_IMAGE"] ?? "paddock-test/bookworm:latest"
    }

    /// The unprivileged host user paddock runs as when the tests run as root (as on CI); nil otherwise.
    public static func testUser() throws -> (name: String, uid: UInt32, gid: UInt32, home: String)? {
        guard getuid() == 0 else { return nil }
        let name = ProcessInfo.processInfo.environment["PADDOCK_TEST_USER"] ?? "paddock-tester"
        guard let entry = getpwnam(name) else {
            throw PaddockError.other(
                "Running as root, the integration tests need the unprivileged user \(name) (scripts/test.sh creates it)."
            )
        }
        return (name, entry.pointee.pw_uid, entry.pointee.pw_gid, String(cString: entry.pointee.pw_dir))
    }

    /// The host user's own home, where rootless Podman keeps its images.
    static func realHome() throws -> String {
        if let user = try testUser() { return user.home }
        return getpwuid(getuid()).map { String(cString: $0.pointee.pw_dir) } ?? NSHomeDirectory()
    }

    /// A command as the test user, with a clean environment whose HOME is `home`.
    static func asTestUser(_ argv: [String], home: String, extra: [String] = []) throws -> Command {
        var prefix: [String] = []
        if let user = try testUser() {
            prefix = ["setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"]
        }
        let full =
            prefix + ["env", "-i", "HOME=\(home)", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
            + extra + argv
        return Command(full[0], Array(full.dropFirst()))
    }

    /// Skips with a clear message when the engine is not usable here; on CI that is a failure instead.
    public static func requireEngine(_ engine: TestEngine = .docker) async throws {
        let runner = SubprocessRunner()
        var problem: String?
        switch engine {
        case .docker:
            let info = try? await runner.capture(Command("docker", ["info", "--format", "{{.ServerVersion}}"]))
            let image = try? await runner.capture(
                Command("docker", ["image", "inspect", "--format", "ok", "--", baseImage]))
            if info?.succeeded != true {
                problem = "no Docker engine is reachable (`docker info` failed); run scripts/test.sh, which starts one"
            } else if image?.succeeded != true {
                problem = "the local base image \(baseImage) is missing; scripts/test.sh builds it with debootstrap"
            }
        case .podman:
            let image = try? await runner.capture(
                asTestUser(["podman", "image", "exists", baseImage], home: realHome()))
            if image?.succeeded != true {
                problem =
                    "rootless Podman cannot see \(baseImage) as the test user (\(image?.stderr ?? "podman missing")); scripts/test.sh installs Podman and loads the image"
            }
        case .bwrap:
            let sandbox = try? await runner.capture(
                asTestUser(["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"], home: realHome()))
            let tools = ["socat", "git", "perl"].filter {
                !FileManager.default.isExecutableFile(atPath: "/usr/bin/" + $0)
            }
            if sandbox?.succeeded != true {
                problem =
                    "bubblewrap cannot make a sandbox as the test user (\(sandbox?.stderr ?? "bwrap missing")); scripts/test.sh installs it"
            } else if !tools.isEmpty {
                problem =
                    "the host lacks \(tools.joined(separator: ", ")), which the bwrap scenarios use; scripts/test.sh installs them"
            }
        }
        guard let problem = problem.map({ "\(engine.rawValue): \($0)" }) else { return }
        #if canImport(Testing)
            if isCI {
                Issue.record("CI=true, so a missing engine is a failure: \(problem)")
                throw PaddockError.other(problem)
            }
            try Test.cancel("Skipped: \(problem)")
        #else
            throw PaddockError.other(problem)
        #endif
    }
}

/// One integration test's world: its own host user, home, project, config and containers, all removed afterwards.
public final class IntegrationFixture: @unchecked Sendable {
    public let id: String
    public let root: String
    public let home: String
    public let project: String
    public let binary: String
    /// The unprivileged host user paddock runs as when the tests run as root (as on CI).
    public let user: (name: String, uid: UInt32, gid: UInt32)?
    public let engine: TestEngine
    let runner = SubprocessRunner()

    /// The global config every fixture starts with; tests that rewrite config.toml start from it.
    public var baseConfig: String {
        "engine = \"\(engine.rawValue)\"\n[image]\nbase = \"\(IntegrationEnvironment.baseImage)\"\n"
    }

    public var hostUID: UInt32 { user?.uid ?? getuid() }
    public var hostGID: UInt32 { user?.gid ?? getgid() }
    public var sandboxUser: SandboxUser { ImageRecipe.sandboxUser(hostUID: hostUID, hostGID: hostGID) }
    public var homeVolume: String { ProjectNaming.homeVolume(project: project, uid: sandboxUser.uid) }
    public var paths: PaddockPaths {
        PaddockPaths.resolve(environment: ["HOME": home], home: home)
    }

    /// Runs `body` with a fresh fixture and removes everything it made, in reverse order, even when `body` throws.
    public static func with(
        engine: TestEngine = .docker, gitRepository: Bool = true, _ body: (IntegrationFixture) async throws -> Void
    ) async throws {
        try await IntegrationEnvironment.requireEngine(engine)
        let fixture = try await IntegrationFixture(engine: engine, gitRepository: gitRepository)
        do {
            try await body(fixture)
        } catch {
            await fixture.tearDown()
            throw error
        }
        await fixture.tearDown()
    }

    init(engine: TestEngine, gitRepository: Bool) async throws {
        id = "it" + String(UUID().uuidString.prefix(8)).lowercased()
        root = "/tmp/paddock-\(id)"
        home = root + "/home"
        project = root + "/project"
        self.engine = engine
        user = try IntegrationEnvironment.testUser().map { ($0.name, $0.uid, $0.gid) }
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: home + "/.config/paddock", withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: project, withIntermediateDirectories: true)
        // A copy the unprivileged user can run wherever the checkout lives.
        binary = root + "/paddock"
        try fileManager.copyItem(atPath: Self.builtBinary(), toPath: binary)
        try baseConfig.write(toFile: home + "/.config/paddock/config.toml", atomically: true, encoding: .utf8)
        if engine == .podman {
            // Rootless Podman keeps images under the user's real home; this fixture's HOME is its own.
            let real = try IntegrationEnvironment.realHome()
            let own = (try? String(contentsOfFile: real + "/.config/containers/storage.conf", encoding: .utf8)) ?? ""
            let driver =
                own.split(separator: "\n").first { $0.hasPrefix("driver") }.map(String.init) ?? "driver = \"overlay\""
            try fileManager.createDirectory(atPath: home + "/.config/containers", withIntermediateDirectories: true)
            try """
            [storage]
            \(driver)
            graphroot = "\(real)/.local/share/containers/storage"
            runroot = "/tmp/containers-user-\(hostUID)/containers"

            """.write(toFile: home + "/.config/containers/storage.conf", atomically: true, encoding: .utf8)
        }
        if let user {
            try await shell("chown -R \(user.uid):\(user.gid) \(root)", in: root)
        }
        if gitRepository {
            try await userShell(
                "git init -q -b main . && git -c user.email=t@t -c user.name=t commit -q --allow-empty -m init")
        }
    }

    static func builtBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["PADDOCK_BIN"] { return path }
        // Tests/PaddockIntegrationTests/… → package root
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let candidate = url.path + "/.build/debug/paddock"
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw PaddockError.other("Build paddock first (`swift build`), or set PADDOCK_BIN.")
        }
        return candidate
    }

    /// The environment paddock sees: a clean one, as a user's shell would give it.
    func environment(_ extra: [String: String]) -> [String] {
        var variables = [
            "HOME": home, "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "USER": user?.name ?? "root",
        ]
        for (key, value) in extra { variables[key] = value }
        return variables.keys.sorted().map { "\($0)=\(variables[$0] ?? "")" }
    }

    /// The argv that runs paddock as the fixture's host user.
    public func paddockCommand(
        _ arguments: [String], environment extra: [String: String] = [:], in directory: String? = nil
    ) -> Command {
        var argv: [String] = []
        if let user {
            argv += ["setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"]
        }
        argv += ["env", "-i"] + environment(extra) + [binary] + arguments
        return Command(argv[0], Array(argv.dropFirst()), workingDirectory: directory ?? project)
    }

    /// Runs paddock to completion, capturing its output.
    public func paddock(_ arguments: [String], environment extra: [String: String] = [:], in directory: String? = nil)
        async throws -> ProcessOutput
    {
        try await runner.capture(paddockCommand(arguments, environment: extra, in: directory))
    }

    /// Starts paddock in the background; the caller signals and waits for it.
    public func start(_ arguments: [String]) throws -> Process {
        let command = paddockCommand(arguments)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command.argv
        process.currentDirectoryURL = URL(fileURLWithPath: project)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs the fixture's container engine (`docker …`, or `podman …` as the test user) directly.
    public func engineCommand(_ arguments: [String]) async throws -> ProcessOutput {
        switch engine {
        case .podman:
            return try await runner.capture(IntegrationEnvironment.asTestUser(["podman"] + arguments, home: home))
        case .docker, .bwrap:
            return try await runner.capture(Command("docker", arguments))
        }
    }

    /// Sandboxes of this fixture's project, running or not, asked of the fixture's engine directly.
    public func containers() async throws -> [String] {
        switch engine {
        case .docker:
            let output = try await runner.capture(
                Command("docker", ["ps", "--all", "--quiet", "--filter", "label=\(SessionLabels.project)=\(project)"]))
            return output.stdout.split(separator: "\n").map(String.init)
        case .podman:
            let output = try await runner.capture(
                IntegrationEnvironment.asTestUser(
                    ["podman", "ps", "--all", "--quiet", "--filter", "label=\(SessionLabels.project)=\(project)"],
                    home: home))
            return output.stdout.split(separator: "\n").map(String.init)
        case .bwrap:
            // A bwrap sandbox is its process: pids of live bwrap processes paddock recorded for this project.
            return bwrapRecords().filter { $0.project == project && Self.isLive(pid: $0.pid) }.map { String($0.pid) }
        }
    }

    func bwrapRecords() -> [(pid: Int32, project: String)] {
        let directory = paths.stateDirectory + "/bwrap"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name in
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)/sandbox.json"),
                let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let pid = (object["pid"] as? NSNumber)?.int32Value,
                let labels = object["labels"] as? [String: String]
            else { return nil }
            return (pid, labels[SessionLabels.project] ?? "")
        }
    }

    /// Alive and not a zombie.
    static func isLive(pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
    }

    /// Polls until `condition` holds or `timeout` passes.
    /// The id of this project's session once `paddock ps` lists it as running (a container just created is not
    /// running yet; other tests' sessions share the engine), or nil when none appears in time.
    public func runningSessionID() async throws -> String? {
        var found: String?
        _ = try await waitUntil {
            let listing = try await paddock(["ps", "--json"])
            let rows = try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [[String: String]] ?? []
            found = rows.first(where: { $0["project"] == project })?["session"]
            return found != nil
        }
        return found
    }

    public func waitUntil(timeout: Double = 60, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    /// Writes a file as the fixture's host user would own it.
    public func write(_ text: String, to path: String) async throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        if let user { try await shell("chown -R \(user.uid):\(user.gid) \(root)", in: root) }
    }

    @discardableResult
    public func shell(_ script: String, in directory: String) async throws -> ProcessOutput {
        let command = Command("sh", ["-c", script], workingDirectory: directory)
        return try await runner.capture(command).check(command)
    }

    /// Runs a shell script as the fixture's host user, as that user would in a terminal (their git, their files).
    @discardableResult
    public func userShell(_ script: String, in directory: String? = nil) async throws -> ProcessOutput {
        var argv: [String] = []
        if let user {
            argv += ["setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"]
        }
        argv += ["env", "-i"] + environment([:]) + ["sh", "-c", script]
        let command = Command(argv[0], Array(argv.dropFirst()), workingDirectory: directory ?? project)
        return try await runner.capture(command).check(command)
    }

    public func ownerUID(of path: String) throws -> UInt32 {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.ownerAccountID] as? NSNumber)?.uint32Value ?? UInt32.max
    }

    func tearDown() async {
        let ids = (try? await containers()) ?? []
        switch engine {
        case .docker:
            if !ids.isEmpty { _ = try? await runner.capture(Command("docker", ["rm", "--force"] + ids)) }
            _ = try? await runner.capture(Command("docker", ["volume", "rm", "--force", homeVolume]))
        case .podman:
            if let remove = try? IntegrationEnvironment.asTestUser(
                ["podman", "rm", "--force", "--time", "0"] + ids, home: home), !ids.isEmpty
            {
                _ = try? await runner.capture(remove)
            }
            if let volume = try? IntegrationEnvironment.asTestUser(
                ["podman", "volume", "rm", "--force", homeVolume], home: home)
            {
                _ = try? await runner.capture(volume)
            }
        case .bwrap:
            // The home is a folder under this fixture's state, removed with it.
            for pid in ids.compactMap(Int32.init) where pid > 1 { kill(-pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}
