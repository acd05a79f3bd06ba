import Foundation
import Logging
import Testing

@testable import PaddockSession

/// What the gateway says for the user while a session runs: never a line across a full-screen agent's picture,
/// never a flood the agent can provoke.
@Suite("Gateway notes on the user's terminal")
struct GatewayNoteTests {
    /// Keeps the events that reach the logger the reporter stands in front of.
    struct Capture: LogHandler {
        final class Box: @unchecked Sendable {
            private let lock = NSLock()
            private var kept: [String] = []
            func append(_ line: String) { lock.withLock { kept.append(line) } }
            var lines: [String] { lock.withLock { kept } }
        }
        let events = Box()
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            events.append("\(event.level): \(event.message)")
        }
    }

    /// Regression: a notice from the gateway (an origin that ended without close_notify) was written as a line in
    /// the middle of Claude's full-screen UI and tore the answer the user was reading.
    @Test func whileTheAgentOwnsTheScreenNoticesWaitForItsExitAndRepeatsAreSaidOnce() {
        let terminal = FakeTerminal()
        let reporter = DenialReporter(mode: .title, terminal: terminal)
        let capture = Capture()
        let logger = reporter.gatewayLogger(Logger(label: "paddock") { _ in capture })
        for _ in 0..<3 { logger.notice("paddock gateway: upstream api.example.test:443: the host failed") }
        logger.debug("a debug line")
        reporter.drain()
        #expect(terminal.text.isEmpty, "said while the agent owned the screen: \(terminal.text)")
        #expect(terminal.titles.count == 1 && terminal.titles[0].contains("the host failed"), "\(terminal.titles)")
        #expect(capture.events.lines == ["debug: a debug line"])

        reporter.finish()
        let lines = terminal.text.split(separator: "\n")
        #expect(lines == ["paddock: notice: paddock gateway: upstream api.example.test:443: the host failed"])
        #expect(terminal.titles.last == "", "the title is cleared after the exit")
    }

    @Test func withoutAFullScreenAgentANoticeIsALineAtOnce() {
        let terminal = FakeTerminal()
        let reporter = DenialReporter(mode: .lines, terminal: terminal)
        let logger = reporter.gatewayLogger(Logger(label: "paddock") { _ in Capture() })
        logger.warning("network policy: a note")
        reporter.drain()
        #expect(terminal.text == "paddock: warning: network policy: a note\n")
        reporter.finish()
        #expect(terminal.text == "paddock: warning: network policy: a note\n", "nothing is said twice")
    }

    /// Attack: the agent provokes a new notice again and again (a policy file it keeps breaking in a new way, hosts
    /// that fail one after another) to flood the user's terminal. A fixed number are shown, then one line says so.
    @Test func provokedNoticesStopAtALimitWithOneLineSayingSo() {
        let terminal = FakeTerminal()
        let reporter = DenialReporter(mode: .lines, terminal: terminal)
        let logger = reporter.gatewayLogger(Logger(label: "paddock") { _ in Capture() })
        for index in 0..<(DenialReporter.gatewayNoteLimit + 30) { logger.notice("failure \(index)") }
        reporter.finish()
        let lines = terminal.text.split(separator: "\n").map(String.init)
        #expect(lines.count == DenialReporter.gatewayNoteLimit + 1)
        #expect(lines.last == DenialReporter.gatewayNotesDroppedLine)
    }

    /// The agent's words in a notice (a host name, a path) cannot drive the terminal: one line, controls escaped.
    @Test func aNoticeCarryingControlsStaysOneInertLine() {
        let terminal = FakeTerminal()
        let reporter = DenialReporter(mode: .lines, terminal: terminal)
        let logger = reporter.gatewayLogger(Logger(label: "paddock") { _ in Capture() })
        logger.notice("upstream evil\u{1B}]2;owned\u{07}\nforged line")
        reporter.finish()
        #expect(
            !terminal.text.contains("\u{1B}") && !terminal.text.contains("\u{07}"), "\(terminal.text.debugDescription)")
        #expect(terminal.text.split(separator: "\n").count == 1, "\(terminal.text.debugDescription)")
    }
}
