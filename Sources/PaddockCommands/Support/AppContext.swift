import Foundation
import Logging
import PaddockCore
import PaddockEngine

/// What a command runs against: the process runner, the engine, the host's facts. `run()` builds the live one;
/// tests build their own.
struct AppContext: Sendable {
    var runner: any ProcessRunner
    var engine: any ContainerEngine
    var environment: [String: String]
    var paths: PaddockPaths
    var currentDirectory: String
    var hostUID: UInt32
    var hostGID: UInt32
    var logger: Logger
    var stdinIsTerminal: Bool
    var stdoutIsTerminal: Bool
    var stderrIsTerminal: Bool
    /// Which engine `engine` is and why (for `doctor`); nil when none could be chosen, and then `engine` fails
    /// every call with the reason.
    var engineChoice: EngineChoice? = nil
    /// The engine a flag or the configuration asked for when `engine` was chosen, whether or not it answered; nil
    /// when the choice was automatic.
    var requestedEngine: EngineKind? = nil
    /// The global and trusted project files as read for the engine choice (no flags), with the project root they
    /// were read for; a session reuses them instead of reading and checking both files a second time.
    var fileConfig: (projectRoot: String, loaded: LoadedConfig)? = nil

    /// The live context for commands that use no engine (its engine is Docker, unprobed).
    static func live(_ options: GlobalOptions) -> AppContext {
        let environment = ProcessInfo.processInfo.environment
        let debug = options.debug || environment["PADDOCK_DEBUG"] == "1"
        let logger = PaddockLogging.bootstrap(debug: debug)
        let runner: any ProcessRunner = debug ? LoggingRunner(SubprocessRunner(), logger: logger) : SubprocessRunner()
        return AppContext(
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
    }

    /// The live context with its engine chosen: `--engine` first, then `engine` in the configuration, else
    /// automatically (`EngineSelection`). No engine at all is not an error here: `doctor` must still report.
    static func live(_ options: GlobalOptions, engine flag: String?) async throws -> AppContext {
        var context = live(options)
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

    mutating func selectEngine(flag: String?, configured: String?) async throws {
        var request: EngineSelection.Request?
        if let flag {
            request = .init(kind: try EngineKind.parse(flag, source: "--engine"), source: "--engine")
        } else if let configured {
            let source = "`engine` in the configuration"
            request = .init(kind: try EngineKind.parse(configured, source: source), source: source)
        }
        requestedEngine = request?.kind
        do {
            let choice = try await EngineSelection.select(request: request, runner: runner, environment: environment)
            engine = EngineFactory.make(choice.kind, runner: runner, environment: environment, stateDirectory: paths.stateDirectory)
            engineChoice = choice
            logger.debug("engine", metadata: ["engine": "\(choice.kind.rawValue)", "why": "\(choice.reason)"])
        } catch let error as PaddockError {
            engine = UnavailableEngine(error: error)
            engineChoice = nil
        }
    }

    var projectRoot: String {
        ProjectLocator.projectRoot(from: currentDirectory) { FileManager.default.fileExists(atPath: $0) }
    }

    var configLoader: ConfigLoader { ConfigLoader(paths: paths) }

    /// Writes a line for the user to stderr: stdout is for the command's real output.
    func say(_ message: String) {
        Console.say(message)
    }
}

enum PaddockLogging {
    private static let once = BootstrapOnce()

    /// swift-log to stderr, escaped like every other output; `--debug` or PADDOCK_DEBUG=1 shows detail.
    static func bootstrap(debug: Bool) -> Logger {
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
