import Foundation
import Logging
import PaddockCore

/// Narrates every process paddock runs at debug level: argv, exit status and milliseconds. Never the
/// environment's values, which may carry a token; only the names a command sets.
public struct LoggingRunner: ProcessRunner {
    public let wrapped: any ProcessRunner
    public let logger: Logger

    public init(_ wrapped: any ProcessRunner, logger: Logger) {
        self.wrapped = wrapped
        self.logger = logger
    }

    public func capture(_ command: Command, input: String?) async throws -> ProcessOutput {
        try await timed(command) {
            try await wrapped.capture(command, input: input)
        } status: {
            $0.status
        }
    }

    public func attached(_ command: Command) async throws -> Int32 {
        try await timed(command) {
            try await wrapped.attached(command)
        } status: {
            $0
        }
    }

    public func streaming(_ command: Command, onLine: @escaping @Sendable (String) -> Void) async throws -> Int32 {
        try await timed(command) {
            try await wrapped.streaming(command, onLine: onLine)
        } status: {
            $0
        }
    }

    private func timed<Result>(
        _ command: Command, _ body: () async throws -> Result, status: (Result) -> Int32
    ) async throws -> Result {
        let started = ContinuousClock.now
        do {
            let result = try await body()
            logger.debug(
                "\(Self.describe(command)) → exit \(status(result)) in \(Self.milliseconds(since: started)) ms")
            return result
        } catch {
            logger.debug("\(Self.describe(command)) → failed to run in \(Self.milliseconds(since: started)) ms")
            throw error
        }
    }

    /// `ran: docker run …`, with the names (not values) of variables the command sets.
    static func describe(_ command: Command) -> String {
        let names = command.environment.keys.sorted()
        let environment = names.isEmpty ? "" : " (sets \(names.joined(separator: ", ")))"
        return "ran: \(command.description)\(environment)"
    }

    public static func milliseconds(since start: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - start
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }
}
