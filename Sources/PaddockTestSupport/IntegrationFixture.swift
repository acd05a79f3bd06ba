import Foundation
import PaddockCore
import PaddockEngine
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The environment the integration suite runs in, as `scripts/test.sh` prepares it.
public enum IntegrationEnvironment {
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    /// The local base image tests build from (the product's default stays debian:bookworm-slim).
    public static var baseImage: String {
        ProcessInfo.processInfo.environment["PADDOCK_TEST_BASE_IMAGE"] ?? "paddock-test/bookworm:latest"
    }

    /// Skips with a clear message when no engine answers; on CI that is a failure instead.
    public static func requireEngine() async throws {
        let runner = SubprocessRunner()
        let info = try? await runner.capture(Command("docker", ["info", "--format", "{{.ServerVersion}}"]))
        let image = try? await runner.capture(Command("docker", ["image", "inspect", "--format", "ok", "--", baseImage]))
        var problem: String?
        if info?.succeeded != true {
            problem = "no Docker engine is reachable (`docker info` failed); run scripts/test.sh, which starts one"
        } else if image?.succeeded != true {
            problem = "the local base image \(baseImage) is missing; scripts/test.sh builds it with debootstrap"
        }
        guard let problem else { return }
        if isCI {
            Issue.record("CI=true, so a missing engine is a failure: \(problem)")
            throw PaddockError.other(problem)
        }
        try Test.cancel("Skipped: \(problem)")
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
    let runner = SubprocessRunner()

    public var hostUID: UInt32 { user?.uid ?? getuid() }
    public var hostGID: UInt32 { user?.gid ?? getgid() }
    public var sandboxUser: (uid: UInt32, gid: UInt32) { ImageRecipe.sandboxUser(hostUID: hostUID, hostGID: hostGID) }
    public var homeVolume: String { ProjectNaming.homeVolume(project: project, uid: sandboxUser.uid) }
    public var paths: PaddockPaths {
        PaddockPaths.resolve(environment: ["HOME": home], home: home)
    }

    /// Runs `body` with a fresh fixture and removes everything it made, in reverse order, even when `body` throws.
    public static func with(
        gitRepository: Bool = true, _ body: (IntegrationFixture) async throws -> Void
    ) async throws {
        try await IntegrationEnvironment.requireEngine()
        let fixture = try await IntegrationFixture(gitRepository: gitRepository)
        do {
            try await body(fixture)
        } catch {
            await fixture.tearDown()
            throw error
        }
        await fixture.tearDown()
    }

    init(gitRepository: Bool) async throws {
        id = "it" + String(UUID().uuidString.prefix(8)).lowercased()
        root = "/tmp/paddock-\(id)"
        home = root + "/home"
        project = root + "/project"
        let environment = ProcessInfo.processInfo.environment
        if getuid() == 0 {
            let name = environment["PADDOCK_TEST_USER"] ?? "paddock-tester"
            guard let entry = getpwnam(name) else {
                throw PaddockError.other(
                    "Running as root, the integration tests need the unprivileged user \(name) (scripts/test.sh creates it).")
            }
            user = (name, entry.pointee.pw_uid, entry.pointee.pw_gid)
        } else {
            user = nil
        }
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: home + "/.config/paddock", withIntermediateDirectories: true)
        try fileManager.createDirectory(atPath: project, withIntermediateDirectories: true)
        try "[image]\nbase = \"\(IntegrationEnvironment.baseImage)\"\n".write(
            toFile: home + "/.config/paddock/config.toml", atomically: true, encoding: .utf8)
        // A copy the unprivileged user can run wherever the checkout lives.
        binary = root + "/paddock"
        try fileManager.copyItem(atPath: Self.builtBinary(), toPath: binary)
        if let user {
            try await shell("chown -R \(user.uid):\(user.gid) \(root)", in: root)
        }
        if gitRepository {
            try await userShell("git init -q -b main . && git -c user.email=t@t -c user.name=t commit -q --allow-empty -m init")
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
    public func paddockCommand(_ arguments: [String], environment extra: [String: String] = [:], in directory: String? = nil) -> Command {
        var argv: [String] = []
        if let user {
            argv += ["setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--init-groups", "--"]
        }
        argv += ["env", "-i"] + environment(extra) + [binary] + arguments
        return Command(argv[0], Array(argv.dropFirst()), workingDirectory: directory ?? project)
    }

    /// Runs paddock to completion, capturing its output.
    public func paddock(_ arguments: [String], environment extra: [String: String] = [:], in directory: String? = nil) async throws -> ProcessOutput {
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

    /// Containers of this fixture's project, running or not.
    public func containers() async throws -> [String] {
        let output = try await runner.capture(
            Command("docker", ["ps", "--all", "--quiet", "--filter", "label=\(SessionLabels.project)=\(project)"]))
        return output.stdout.split(separator: "\n").map(String.init)
    }

    /// Polls until `condition` holds or `timeout` passes.
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
        if !ids.isEmpty { _ = try? await runner.capture(Command("docker", ["rm", "--force"] + ids)) }
        _ = try? await runner.capture(Command("docker", ["volume", "rm", "--force", homeVolume]))
        try? FileManager.default.removeItem(atPath: root)
    }
}
