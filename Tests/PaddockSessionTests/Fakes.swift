import Foundation
import Logging
import PaddockCore
import PaddockEngine
import Testing

@testable import PaddockSession

/// Where a scripted engine call happens, so a test can fail or signal there.
enum EngineStage: String, CaseIterable, Sendable {
    case imageCheck, build, containerList, run
}

/// An engine that starts nothing: it records every spec and call, answers from a script, and fails or delivers a
/// signal at the stage a test names.
final class FakeEngine: ContainerEngine, @unchecked Sendable {
    let name = "fake"
    private let lock = NSLock()
    private var built: [String: String] = [:]
    private var running: Set<String> = []
    private(set) var specs: [ContainerSpec] = []
    private(set) var removed: [String] = []
    var failAt: EngineStage?
    var signalAt: EngineStage?
    var signals: FakeSignals?
    var runStatus: Int32 = 0
    /// What a run's container does: exit at once, or run until removed.
    var runsUntilRemoved = false

    var runningContainers: Set<String> { lock.withLock { running } }
    var recordedSpecs: [ContainerSpec] { lock.withLock { specs } }
    var removedContainers: [String] { lock.withLock { removed } }

    private func at(_ stage: EngineStage) throws {
        if signalAt == stage { signals?.deliver(SIGINT) }
        if failAt == stage {
            throw PaddockError.engineCommandFailed(
                command: "fake \(stage.rawValue)", status: 1, stderr: "scripted failure")
        }
    }

    func info() async throws -> EngineInfo { EngineInfo(flavor: "Fake", serverVersion: "1", operatingSystem: "test") }

    func imageLabel(_ image: String, label: String) async throws -> String? {
        try at(.imageCheck)
        return lock.withLock { built[image] }
    }

    func buildImage(_ request: ImageBuildRequest, onLine: @escaping @Sendable (String) -> Void) async throws {
        onLine("STEP 1/1: FROM base")
        try at(.build)
        lock.withLock { built[request.tag] = request.labels[ImageRecipe.contextLabel] ?? "" }
    }

    func images(withLabel label: String) async throws -> [ImageSummary] { [] }

    func run(_ spec: ContainerSpec) async throws -> Int32 {
        lock.withLock {
            specs.append(spec)
            running.insert(spec.name)
        }
        do {
            try at(.run)
        } catch {
            lock.withLock { _ = running.remove(spec.name) }
            throw error
        }
        if runsUntilRemoved {
            while runningContainers.contains(spec.name) { try await Task.sleep(for: .milliseconds(5)) }
            return 137
        }
        lock.withLock { _ = running.remove(spec.name) }
        return runStatus
    }

    func exec(container: String, user: String, command: [String], tty: Bool) async throws -> Int32 { 0 }

    func containers(all: Bool) async throws -> [ContainerSummary] {
        try at(.containerList)
        return []
    }

    func stop(container: String, timeoutSeconds: Int) async throws {}

    func remove(containers: [String]) async throws {
        lock.withLock {
            removed += containers
            for container in containers { running.remove(container) }
        }
    }
}

/// Signals a test delivers itself.
final class FakeSignals: SignalSource, @unchecked Sendable {
    private let lock = NSLock()
    private var handler: (@Sendable (Int32) -> Void)?

    struct Trap: SignalTrapping {
        let signals: FakeSignals
        func cancel() { signals.lock.withLock { signals.handler = nil } }
    }

    func trap(_ handler: @escaping @Sendable (Int32) -> Void) -> any SignalTrapping {
        lock.withLock { self.handler = handler }
        return Trap(signals: self)
    }

    var trapped: Bool { lock.withLock { handler != nil } }

    func deliver(_ signal: Int32) {
        let handler = lock.withLock { self.handler }
        handler?(signal)
    }
}

/// Collects what a session says, and answers its questions from a script (then with end of input).
final class FakeTerminal: Terminal, @unchecked Sendable {
    private let lock = NSLock()
    private var written: [String] = []
    var answers: [String] = []
    var text: String { lock.withLock { written.joined() } }
    func out(_ text: String) { lock.withLock { written.append(text + "\n") } }
    func say(_ text: String, terminator: String) { lock.withLock { written.append(text + terminator) } }
    func progress(_ text: String) { lock.withLock { written.append(text + "\n") } }
    private var shownTitles: [String] = []
    var titles: [String] { lock.withLock { shownTitles } }
    func title(_ text: String) { lock.withLock { shownTitles.append(text) } }
    func readLine() -> String? { lock.withLock { answers.isEmpty ? nil : answers.removeFirst() } }
}

/// A runner that runs nothing: a session on a plain folder with a fake engine needs no process at all, so any
/// command it tries is a failure of the test.
struct NoProcessRunner: ProcessRunner {
    func refuse(_ command: Command) -> ProcessOutput {
        Issue.record("the session ran a process: \(command.description)")
        return ProcessOutput(status: 127, stdout: "", stderr: "no process in this test")
    }
    func capture(_ command: Command, input: String?) async throws -> ProcessOutput { refuse(command) }
    func attached(_ command: Command) async throws -> Int32 { refuse(command).status }
    func streaming(_ command: Command, onLine: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        refuse(command).status
    }
}

/// Always the fake engine, whatever was asked.
struct FakeSelector: EngineSelector {
    let engine: FakeEngine
    func select(_ request: EngineSelection.Request?, context: AppContext) async throws -> (
        any ContainerEngine, EngineChoice
    ) {
        (engine, EngineChoice(kind: .docker, reason: "the test's fake engine"))
    }
}

/// A home, a plain project folder and a context of fakes, removed afterwards.
final class SessionBench: @unchecked Sendable {
    let root: String
    let engine = FakeEngine()
    let signals = FakeSignals()
    let terminal = FakeTerminal()
    let sessionID: SessionID
    var home: String { root + "/h" }
    var project: String { root + "/p" }

    /// `padding` lengthens the root by that many bytes (a test of long session paths).
    init(padding: Int = 0) throws {
        // Short: the gateway's socket must fit in sun_path below the session folder.
        var root = "/tmp/pst-" + String(UUID().uuidString.prefix(6)).lowercased()
        if padding > 0 { root += "/" + String(repeating: "x", count: padding - 1) }
        self.root = root
        sessionID = try #require(SessionID("20261201-120000-00ab"))
        try FileManager.default.createDirectory(atPath: root + "/p", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/h", withIntermediateDirectories: true)
        engine.signals = signals
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    var paths: PaddockPaths { PaddockPaths.resolve(environment: ["HOME": home], home: home) }

    var context: AppContext {
        var context = AppContext(
            runner: NoProcessRunner(), engine: engine, environment: ["HOME": home], paths: paths,
            currentDirectory: project, hostUID: 1000, hostGID: 1000, logger: Logger(label: "test"),
            stdinIsTerminal: false, stdoutIsTerminal: false, stderrIsTerminal: false)
        context.terminal = terminal
        context.signals = signals
        context.engineSelector = FakeSelector(engine: engine)
        let id = sessionID
        context.newSessionID = { id }
        return context
    }

    var sessionDirectory: String { paths.sessionDirectory(sessionID) }

    var record: SessionRecord? {
        SessionRecord.all(paths: paths).first { $0.id == sessionID }
    }

    /// What a session must never leave: a running container, a gateway socket or its folder, an open record.
    func expectNothingLeftBehind(_ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(engine.runningContainers.isEmpty, "containers still run", sourceLocation: sourceLocation)
        #expect(
            !FileManager.default.fileExists(atPath: sessionDirectory + "/gateway"), "the gateway's folder remains",
            sourceLocation: sourceLocation)
        if let record {
            #expect(record.endedAt != nil, "the record says the session still runs", sourceLocation: sourceLocation)
        }
        #expect(!signals.trapped, "the signal trap outlived the session", sourceLocation: sourceLocation)
    }
}
