import Foundation

/// A command as a value: what would run, so tests can assert the exact argv before anything runs.
public struct Command: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var executable: String
    public var arguments: [String]
    /// Variables added to (or, with nil, removed from) the inherited environment.
    public var environment: [String: String?]
    public var workingDirectory: String?

    public init(
        _ executable: String, _ arguments: [String] = [], environment: [String: String?] = [:],
        workingDirectory: String? = nil
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
    }

    public var argv: [String] { [executable] + arguments }

    public var description: String {
        argv.map(Self.shellQuoted).joined(separator: " ")
    }

    /// Quotes a word for display in a message the user may paste into a shell.
    public static func shellQuoted(_ word: String) -> String {
        let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_./:=@%+,"))
        if !word.isEmpty, word.unicodeScalars.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// What a captured run produced.
public struct ProcessOutput: Equatable, Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String, stderr: String) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }

    public var succeeded: Bool { status == 0 }

    /// Throws a `PaddockError` carrying the command and its stderr unless the run succeeded.
    @discardableResult
    public func check(_ command: Command) throws -> ProcessOutput {
        guard succeeded else {
            throw PaddockError.engineCommandFailed(command: command.description, status: status, stderr: stderr)
        }
        return self
    }
}

/// Runs commands. The real one spawns processes; tests substitute one that records argv.
public protocol ProcessRunner: Sendable {
    /// Runs to completion, capturing stdout and stderr (read concurrently, so neither can block the other).
    func capture(_ command: Command, input: String?) async throws -> ProcessOutput

    /// Runs with the caller's stdin, stdout and stderr; returns the exit status (128+N when killed by signal N).
    func attached(_ command: Command) async throws -> Int32

    /// Runs to completion, handing each line of combined stdout and stderr to `onLine` as it arrives.
    func streaming(_ command: Command, onLine: @escaping @Sendable (String) -> Void) async throws -> Int32
}

extension ProcessRunner {
    public func capture(_ command: Command) async throws -> ProcessOutput {
        try await capture(command, input: nil)
    }
}
