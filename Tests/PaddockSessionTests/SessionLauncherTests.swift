import Foundation
import PaddockCore
import PaddockEngine
import Testing

@testable import PaddockSession

/// The session lifecycle against a fake engine: each way a start can fail, and a signal at each stage, ends with
/// the documented exit code and leaves nothing behind (no container, no gateway socket, no open record, no trap).
@Suite("The session lifecycle, on a fake engine")
struct SessionLauncherTests {
    func shell(_ command: [String] = ["true"]) -> LaunchRequest {
        var flags = PaddockConfig()
        flags.agent = "shell"
        return LaunchRequest(flags: flags, agentArguments: command)
    }

    @Test func aSessionRunsOnceAndClosesEverything() async throws {
        let bench = try SessionBench()
        bench.engine.runStatus = 7
        let status = try await SessionLauncher(context: bench.context).launch(shell())
        #expect(status == 7, "the agent's own exit code")
        let spec = try #require(bench.engine.recordedSpecs.first)
        #expect(bench.engine.recordedSpecs.count == 1)
        #expect(spec.network == .none)
        #expect(spec.mounts.contains(.bind(bench.project, at: "/workspace", readOnly: false)))
        #expect(spec.mounts.contains { $0.target == GatewayAccess.directoryInSandbox && $0.readOnly })
        #expect(bench.record?.exitCode == 7)
        bench.expectNothingLeftBehind()
        #expect(bench.terminal.text.contains("net log"), "the end-of-session line: \(bench.terminal.text)")
    }

    /// Regression: a gateway socket path of 104 to 107 bytes fits Linux's sun_path but not swift-nio's limit
    /// (103 bytes on every system), and such a session stopped with "unixDomainSocketPathTooLong". It falls back to a
    /// short private folder instead.
    @Test(arguments: [103, 104, 107, 140])
    func aSessionWhoseSocketPathIsTooLongForNIOStillStarts(socketPathLength: Int) async throws {
        let probe = try SessionBench()
        let socket = probe.sessionDirectory + "/gateway/" + GatewayAccess.socketName
        let bench = try SessionBench(padding: socketPathLength - socket.utf8.count)
        #expect((bench.sessionDirectory + "/gateway/" + GatewayAccess.socketName).utf8.count == socketPathLength)
        let status = try await SessionLauncher(context: bench.context).launch(shell())
        #expect(status == 0, "\(bench.terminal.text)")
        #expect(bench.engine.recordedSpecs.count == 1)
        bench.expectNothingLeftBehind()
    }

    @Test func aFailedImageBuildStartsNothing() async throws {
        let bench = try SessionBench()
        bench.engine.failAt = .build
        let error = await #expect(throws: PaddockError.self) {
            try await SessionLauncher(context: bench.context).launch(shell())
        }
        #expect(error?.exitCode == 70)
        if case .imageBuildFailed(let log, _) = error {
            #expect(log.hasPrefix(bench.paths.logsDirectory), "names the full log: \(log)")
        } else {
            Issue.record("expected imageBuildFailed, got \(String(describing: error))")
        }
        #expect(bench.engine.recordedSpecs.isEmpty)
        bench.expectNothingLeftBehind()
    }

    @Test func aFailedStartClosesTheGatewayAndTheRecord() async throws {
        let bench = try SessionBench()
        bench.engine.failAt = .run
        let error = await #expect(throws: PaddockError.self) {
            try await SessionLauncher(context: bench.context).launch(shell())
        }
        #expect(error?.exitCode == 70)
        #expect(bench.engine.recordedSpecs.count == 1)
        #expect(
            bench.engine.removedContainers == bench.engine.recordedSpecs.map(\.name), "teardown removed what may exist")
        #expect(bench.record != nil, "the record was written before the start")
        bench.expectNothingLeftBehind()
    }

    @Test func aGatewayThatCannotBindStartsNothing() async throws {
        let bench = try SessionBench()
        // Something already sits where the socket must go: bind fails.
        try FileManager.default.createDirectory(
            atPath: bench.sessionDirectory + "/gateway/" + GatewayAccess.socketName + "/taken",
            withIntermediateDirectories: true)
        let error = await #expect(throws: PaddockError.self) {
            try await SessionLauncher(context: bench.context).launch(shell())
        }
        #expect(error?.exitCode == 70)
        #expect("\(error.map { "\($0)" } ?? "")".contains("--offline"), "names a way on: \(String(describing: error))")
        #expect(bench.engine.recordedSpecs.isEmpty)
        #expect(bench.engine.runningContainers.isEmpty)
        #expect(!bench.signals.trapped)
    }

    @Test(arguments: EngineStage.allCases) func aSignalAtAnyStageEndsTheSessionAs130(stage: EngineStage) async throws {
        let bench = try SessionBench()
        bench.engine.signalAt = stage
        bench.engine.runsUntilRemoved = true
        if stage == .containerList {
            // The container list is asked for only while a record suspects an orphan: one whose launcher is gone.
            var suspect = SessionRecord(
                id: try #require(SessionID("20261201-110000-00zz")), container: "paddock-old", project: bench.project,
                agent: "shell", image: "x", launcherPID: Int32.max - 1, startedAt: Date())
            suspect.engine = "docker"
            try suspect.write(paths: bench.paths)
        }
        let status = try await SessionLauncher(context: bench.context).launch(shell(["sleep", "300"]))
        #expect(status == 128 + SIGINT)
        if stage == .run {
            #expect(bench.engine.removedContainers.contains(try #require(bench.engine.recordedSpecs.first).name))
        } else {
            #expect(bench.engine.recordedSpecs.isEmpty, "stopped before the sandbox was made")
        }
        bench.expectNothingLeftBehind()
    }

    /// Mount policy for the workspace is checked once, by the preparation, before any clone or protection exists.
    @Test(arguments: ["mount", "clone"]) func theHomeFolderAsTheProjectIsRefusedBeforeAnythingIsMade(isolate: String)
        async throws
    {
        let bench = try SessionBench()
        var context = bench.context
        context.currentDirectory = bench.home
        var request = shell()
        request.flags.isolate = isolate
        let error = await #expect(throws: PaddockError.self) {
            try await SessionLauncher(context: context).launch(request)
        }
        guard case .dangerousMount = error else {
            Issue.record("expected dangerousMount, got \(String(describing: error))")
            return
        }
        #expect(error?.exitCode == 77)
        #expect(bench.engine.recordedSpecs.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: bench.paths.clonesDirectory), "no clone of the home folder")
        bench.expectNothingLeftBehind()
    }

    /// An untrusted paddock.toml at an interactive start: shown, and applied only on a yes.
    @Test(arguments: [("y", true), ("yes", true), ("n", false), ("", false)])
    func anUntrustedProjectFileIsAskedAbout(answer: String, trusted: Bool) async throws {
        let bench = try SessionBench()
        try "[resources]\npids = 77\n".write(toFile: bench.project + "/paddock.toml", atomically: true, encoding: .utf8)
        var context = bench.context
        context.stdinIsTerminal = true
        context.stderrIsTerminal = true
        bench.terminal.answers = [answer]
        if trusted {
            _ = try await SessionLauncher(context: context).launch(shell())
            #expect(bench.engine.recordedSpecs.first?.pidsLimit == 77, "the approved file applies")
        } else {
            let error = await #expect(throws: PaddockError.self) {
                try await SessionLauncher(context: context).launch(shell())
            }
            #expect(error?.exitCode == 77)
            #expect(bench.engine.recordedSpecs.isEmpty)
        }
        #expect(bench.terminal.text.contains("Trust this version and continue? [y/N] "))
        #expect(bench.terminal.text.contains("pids = 77"), "the diff was shown")
    }

    @Test func theEngineIsChosenOnceFromTheTrustedConfiguration() async throws {
        let bench = try SessionBench()
        final class Counting: EngineSelector, @unchecked Sendable {
            let engine: FakeEngine
            let lock = NSLock()
            var requests: [EngineSelection.Request?] = []
            init(engine: FakeEngine) { self.engine = engine }
            func select(_ request: EngineSelection.Request?, context: AppContext) async throws -> (
                any ContainerEngine, EngineChoice
            ) {
                lock.withLock { requests.append(request) }
                return (engine, EngineChoice(kind: .podman, reason: "test"))
            }
        }
        try FileManager.default.createDirectory(atPath: bench.paths.configDirectory, withIntermediateDirectories: true)
        try "engine = \"podman\"\n".write(toFile: bench.paths.globalConfigFile, atomically: true, encoding: .utf8)
        let selector = Counting(engine: bench.engine)
        var context = bench.context
        context.engineSelector = selector
        _ = try await SessionLauncher(context: context).launch(shell())
        #expect(selector.requests.count == 1)
        #expect(selector.requests.first??.kind == .podman)
        #expect(bench.record?.engine == "podman")
    }
}
