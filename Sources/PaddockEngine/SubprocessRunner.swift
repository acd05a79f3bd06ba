import Foundation
import PaddockCore
import Subprocess

#if canImport(System)
    import System
#else
    import SystemPackage
#endif

/// The real `ProcessRunner`, on swift-subprocess: children start with default signal dispositions, and
/// stdout and stderr are drained concurrently.
public struct SubprocessRunner: ProcessRunner {
    /// Captured output beyond this is an error rather than unbounded memory.
    public static let captureLimit = 256 * 1024 * 1024

    public init() {}

    public func capture(_ command: Command, input: String?) async throws -> ProcessOutput {
        let result: ExecutionResult<Void, StringOutput<UTF8>, StringOutput<UTF8>>
        do {
            if let input {
                result = try await Subprocess.run(
                    Self.executable(command), arguments: Arguments(command.arguments),
                    environment: Self.environment(command), workingDirectory: Self.directory(command),
                    input: .string(input), output: .string(limit: Self.captureLimit),
                    error: .string(limit: Self.captureLimit))
            } else {
                result = try await Subprocess.run(
                    Self.executable(command), arguments: Arguments(command.arguments),
                    environment: Self.environment(command), workingDirectory: Self.directory(command),
                    input: .none, output: .string(limit: Self.captureLimit),
                    error: .string(limit: Self.captureLimit))
            }
        } catch {
            throw Self.launchError(command, error)
        }
        return ProcessOutput(
            status: Self.status(result.terminationStatus),
            stdout: result.standardOutput, stderr: result.standardError)
    }

    public func attached(_ command: Command) async throws -> Int32 {
        do {
            let result = try await Subprocess.run(
                Self.executable(command), arguments: Arguments(command.arguments),
                environment: Self.environment(command), workingDirectory: Self.directory(command),
                input: .currentStandardInput, output: .currentStandardOutput, error: .currentStandardError)
            return Self.status(result.terminationStatus)
        } catch {
            throw Self.launchError(command, error)
        }
    }

    public func streaming(_ command: Command, onLine: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        do {
            let result = try await Subprocess.run(
                Self.executable(command), arguments: Arguments(command.arguments),
                environment: Self.environment(command), workingDirectory: Self.directory(command),
                input: .none, output: .sequence, error: .combinedWithOutput
            ) { execution in
                for try await line in execution.standardOutput.strings() {
                    onLine(line)
                }
            }
            return Self.status(result.terminationStatus)
        } catch {
            throw Self.launchError(command, error)
        }
    }

    /// Resolved here, once per name: given a bare name, swift-subprocess tries each PATH entry in a child of its
    /// own, which costs a fork per miss on every call (measured: about 15 ms before a session starts).
    static func executable(_ command: Command) -> Executable {
        if command.executable.contains("/") { return .path(FilePath(command.executable)) }
        let path = (command.environment["PATH"] ?? nil) ?? ProcessInfo.processInfo.environment["PATH"]
        if let found = resolved.lookup(command.executable, path: path) { return .path(FilePath(found)) }
        return .name(command.executable)
    }

    private static let resolved = ResolvedExecutables()

    static func environment(_ command: Command) -> Environment {
        var updates: [Environment.Key: String?] = [:]
        for (name, value) in command.environment {
            if let key = Environment.Key(rawValue: name) { updates[key] = value }
        }
        return updates.isEmpty ? .inherit : .inherit.updating(updates)
    }

    static func directory(_ command: Command) -> FilePath? {
        command.workingDirectory.map { FilePath($0) }
    }

    static func status(_ status: TerminationStatus) -> Int32 {
        switch status {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    static func launchError(_ command: Command, _ error: any Error) -> any Error {
        if error is PaddockError { return error }
        if error is CancellationError { return error }
        return PaddockError.other(
            "Could not run `\(command.description)`: \(error). Check that `\(command.executable)` is installed and on your PATH."
        )
    }
}

/// `which`, remembered for the life of the process.
final class ResolvedExecutables: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: String] = [:]

    func lookup(_ name: String, path: String?) -> String? {
        let key = name + "\u{0}" + (path ?? "")
        if let hit = lock.withLock({ cache[key] }) { return hit }
        guard let found = ExecutableLookup.find(name, path: path) else { return nil }
        lock.withLock { cache[key] = found }
        return found
    }
}
