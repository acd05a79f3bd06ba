import Foundation
import PaddockCore

/// A `ProcessRunner` for unit tests: records every command and answers from a script instead of running anything.
public final class RecordingRunner: ProcessRunner, @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [Command] = []
    private let respond: @Sendable (Command) -> ProcessOutput

    public init(
        respond: @escaping @Sendable (Command) -> ProcessOutput = { _ in
            ProcessOutput(status: 0, stdout: "", stderr: "")
        }
    ) {
        self.respond = respond
    }

    public var commands: [Command] { lock.withLock { recorded } }

    private func record(_ command: Command) -> ProcessOutput {
        lock.withLock { recorded.append(command) }
        return respond(command)
    }

    public func capture(_ command: Command, input: String?) async throws -> ProcessOutput { record(command) }
    public func attached(_ command: Command) async throws -> Int32 { record(command).status }
    public func streaming(_ command: Command, onLine: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        let output = record(command)
        output.stdout.split(separator: "\n", omittingEmptySubsequences: false).forEach { onLine(String($0)) }
        return output.status
    }
}
