import Foundation
import Logging
import PaddockCore
import PaddockTestSupport
import Testing

@testable import PaddockEngine

/// `--debug` names each process paddock runs, with its exit status and time, and never an environment value.
@Suite("The debug log narrates processes")
struct LoggingRunnerTests {
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        var all: [String] { lock.withLock { lines } }
    }

    struct CollectingHandler: LogHandler {
        let lines: Lines
        var logLevel: Logger.Level = .debug
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { lines.append("\(event.level) \(event.message)") }
    }

    @Test func eachCommandIsLoggedWithStatusAndNoSecretValues() async throws {
        let lines = Lines()
        let logger = Logger(label: "test") { _ in CollectingHandler(lines: lines) }
        let inner = RecordingRunner { command in
            ProcessOutput(status: command.arguments.first == "fail" ? 3 : 0, stdout: "", stderr: "")
        }
        let runner = LoggingRunner(inner, logger: logger)
        _ = try await runner.capture(
            Command("docker", ["image", "inspect", "x"], environment: ["DOCKER_TOKEN": "s3cret-value"]))
        _ = try await runner.attached(Command("podman", ["fail", "now"]))
        let logged = lines.all
        #expect(logged.count == 2)
        #expect(logged[0].hasPrefix("debug ran: docker image inspect x (sets DOCKER_TOKEN) → exit 0 in "), "\(logged)")
        #expect(logged[1].hasPrefix("debug ran: podman fail now → exit 3 in "), "\(logged)")
        #expect(!logged.joined().contains("s3cret-value"))
        #expect(inner.commands.count == 2, "the wrapped runner ran both")
    }
}
