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

    static func live(_ options: GlobalOptions) -> AppContext {
        let environment = ProcessInfo.processInfo.environment
        let logger = PaddockLogging.bootstrap(debug: options.debug || environment["PADDOCK_DEBUG"] == "1")
        let runner = SubprocessRunner()
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

    var projectRoot: String {
        ProjectLocator.projectRoot(from: currentDirectory) { FileManager.default.fileExists(atPath: $0) }
    }

    var configLoader: ConfigLoader { ConfigLoader(paths: paths) }

    /// Writes a line for the user to stderr: stdout is for the command's real output.
    func say(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}

enum PaddockLogging {
    private static let once = BootstrapOnce()

    /// swift-log to stderr; `--debug` or PADDOCK_DEBUG=1 shows detail.
    static func bootstrap(debug: Bool) -> Logger {
        once.run {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = debug ? .debug : .notice
                return handler
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
