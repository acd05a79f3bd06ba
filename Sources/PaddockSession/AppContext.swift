import Foundation
import Logging
import PaddockCore
import PaddockEngine

/// What a command and a session run against: the process runner, the engine and how it is chosen, the host's
/// facts, the clock, the signals and the terminal. `live` builds the real one; tests build theirs from fakes.
public struct AppContext: Sendable {
    public var runner: any ProcessRunner
    public var engine: any ContainerEngine
    public var environment: [String: String]
    public var paths: PaddockPaths
    public var currentDirectory: String
    public var hostUID: UInt32
    public var hostGID: UInt32
    public var logger: Logger
    public var stdinIsTerminal: Bool
    public var stdoutIsTerminal: Bool
    public var stderrIsTerminal: Bool
    /// Standard input can give nothing (closed, or the null device): the sandbox then needs none forwarded.
    public var stdinReadsNothing = false
    /// Where messages, progress and the trust prompt go.
    public var terminal: any Terminal = LiveTerminal()
    public var clock: @Sendable () -> Date = { Date() }
    /// A new session's id (time-sorted and random in the live context; fixed in tests that need to know it).
    public var newSessionID: @Sendable () -> SessionID = { SessionID.make() }
    /// SIGINT, SIGTERM and SIGHUP while a session starts, runs and ends.
    public var signals: any SignalSource = ProcessSignals()
    /// Chooses the engine for a request (a flag or the configuration) or automatically.
    public var engineSelector: any EngineSelector = LiveEngineSelector()
    /// Which engine `engine` is and why (for `doctor`); nil when none could be chosen, and then `engine` fails
    /// every call with the reason.
    public var engineChoice: EngineChoice? = nil
    /// The engine a flag or the configuration asked for when `engine` was chosen, whether or not it answered; nil
    /// when the choice was automatic.
    public var requestedEngine: EngineKind? = nil
    /// The global and trusted project files as read for the engine choice (no flags), with the project root they
    /// were read for; a session reuses them instead of reading and checking both files a second time.
    public var fileConfig: (projectRoot: String, loaded: LoadedConfig)? = nil

    public init(
        runner: any ProcessRunner, engine: any ContainerEngine, environment: [String: String], paths: PaddockPaths,
        currentDirectory: String, hostUID: UInt32, hostGID: UInt32, logger: Logger, stdinIsTerminal: Bool,
        stdoutIsTerminal: Bool, stderrIsTerminal: Bool
    ) {
        self.runner = runner
        self.engine = engine
        self.environment = environment
        self.paths = paths
        self.currentDirectory = currentDirectory
        self.hostUID = hostUID
        self.hostGID = hostGID
        self.logger = logger
        self.stdinIsTerminal = stdinIsTerminal
        self.stdoutIsTerminal = stdoutIsTerminal
        self.stderrIsTerminal = stderrIsTerminal
    }

    /// The live context, its engine not chosen yet (Docker, unprobed, stands in).
    public static func live(debug: Bool) -> AppContext {
        let environment = ProcessInfo.processInfo.environment
        let debug = debug || environment["PADDOCK_DEBUG"] == "1"
        let logger = PaddockLogging.bootstrap(debug: debug)
        let runner: any ProcessRunner = debug ? LoggingRunner(SubprocessRunner(), logger: logger) : SubprocessRunner()
        var context = AppContext(
            runner: runner,
            engine: DockerEngine(executable: environment["PADDOCK_DOCKER"] ?? "docker", runner: runner),
            environment: environment,
            paths: PaddockPaths.resolve(environment: environment, home: NSHomeDirectory()),
            currentDirectory: FileManager.default.currentDirectoryPath,
            hostUID: HostProcess.userID,
            hostGID: HostProcess.groupID,
            logger: logger,
            stdinIsTerminal: HostProcess.isTerminal(0),
            stdoutIsTerminal: HostProcess.isTerminal(1),
            stderrIsTerminal: HostProcess.isTerminal(2))
        context.stdinReadsNothing = HostProcess.readsNothing(0)
        return context
    }

    /// The live context with its engine chosen: `--engine` first, then `engine` in the configuration, else
    /// automatically (`EngineSelection`). No engine at all is not an error here: `doctor` must still report.
    public static func live(debug: Bool, engine flag: String?) async throws -> AppContext {
        var context = live(debug: debug)
        let root = context.projectRoot
        if let loaded = try? context.configLoader.load(projectRoot: root, flags: PaddockConfig()) {
            context.fileConfig = (root, loaded)
        }
        try await context.selectEngine(flag: flag, configured: context.configuredEngine())
        return context
    }

    /// `engine` from the configuration a session here would use. An untrusted or broken project file says nothing
    /// (`run` stops on it anyway), so only the global file counts then.
    func configuredEngine() -> String? {
        if let fileConfig { return fileConfig.loaded.effective.engine }
        return (try? ConfigLoader.layer(at: paths.globalConfigFile))??.config.engine
    }

    public mutating func selectEngine(flag: String?, configured: String?) async throws {
        var request: EngineSelection.Request?
        if let flag {
            request = .init(kind: try EngineKind.parse(flag, source: "--engine"), source: "--engine")
        } else if let configured {
            let source = "`engine` in the configuration"
            request = .init(kind: try EngineKind.parse(configured, source: source), source: source)
        }
        requestedEngine = request?.kind
        do {
            let (chosen, choice) = try await engineSelector.select(request, context: self)
            engine = chosen
            engineChoice = choice
            logger.debug("engine", metadata: ["engine": "\(choice.kind.rawValue)", "why": "\(choice.reason)"])
        } catch let error as PaddockError {
            engine = UnavailableEngine(error: error)
            engineChoice = nil
        }
    }

    /// Who the agent runs as: computed here only, from the host user.
    public var sandboxUser: SandboxUser { ImageRecipe.sandboxUser(hostUID: hostUID, hostGID: hostGID) }

    public var projectRoot: String {
        ProjectLocator.projectRoot(from: currentDirectory) { FileManager.default.fileExists(atPath: $0) }
    }

    public var configLoader: ConfigLoader { ConfigLoader(paths: paths) }

    /// Writes a line for the user to stderr: stdout is for the command's real output.
    public func say(_ message: String) {
        terminal.say(message, terminator: "\n")
    }
}

/// Picks the engine adapter for a request; the live one probes the host, tests hand back their own.
public protocol EngineSelector: Sendable {
    func select(_ request: EngineSelection.Request?, context: AppContext) async throws -> (
        any ContainerEngine, EngineChoice
    )
}

public struct LiveEngineSelector: EngineSelector {
    public init() {}

    public func select(_ request: EngineSelection.Request?, context: AppContext) async throws -> (
        any ContainerEngine, EngineChoice
    ) {
        let choice = try await EngineSelection.select(
            request: request, runner: context.runner, environment: context.environment)
        let engine = EngineFactory.make(
            choice.kind, runner: context.runner, environment: context.environment,
            stateDirectory: context.paths.stateDirectory)
        return (engine, choice)
    }
}

public enum PaddockLogging {
    private static let once = BootstrapOnce()

    /// swift-log to stderr, escaped like every other output; `--debug` or PADDOCK_DEBUG=1 shows detail.
    public static func bootstrap(debug: Bool) -> Logger {
        once.run {
            LoggingSystem.bootstrap { label in
                SafeLogHandler(label: label, logLevel: debug ? .debug : .notice)
            }
        }
        var logger = Logger(label: "paddock")
        logger.logLevel = debug ? .debug : .notice
        return logger
    }

    private final class BootstrapOnce: @unchecked Sendable {
        private let lock = NSLock()
        private var done = false
        func run(_ body: () -> Void) {
            lock.withLock {
                guard !done else { return }
                done = true
                body()
            }
        }
    }
}
