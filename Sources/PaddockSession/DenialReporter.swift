import Dispatch
import Foundation
import Logging
import PaddockCore
import PaddockGateway

/// Tells the user of denied connections, and of what the gateway has to say, while the session runs (see
/// `DenialNotices` for how and why). Called on the gateway's event loops, so it only queues: the writes to the
/// terminal happen on a queue of its own.
public final class DenialReporter: ConnectionLogSink, @unchecked Sendable {
    enum Mode {
        /// Lines on stderr at once.
        case lines
        /// The agent owns the screen: the terminal title now, the lines after it exited.
        case title
    }

    private let mode: Mode
    private let lock = NSLock()
    private var notices = DenialNotices()
    private var lines: [String] = []
    private var gatewayNotes: [String] = []
    private var gatewayNotesDropped = false
    /// Distinct gateway notes shown in a session: the agent can provoke them (a policy file it keeps breaking, an
    /// origin that keeps failing), and the user's terminal is not its to flood.
    static let gatewayNoteLimit = 20
    private let queue = DispatchQueue(label: "paddock.denials")
    private let terminal: any Terminal

    init(mode: Mode, terminal: any Terminal) {
        self.mode = mode
        self.terminal = terminal
    }

    public func record(_ record: ConnectionRecord) {
        let notice: String? = lock.withLock {
            guard let notice = notices.notice(for: record) else { return nil }
            lines.append(notice)
            return notice
        }
        guard let notice else { return }
        show(notice)
    }

    /// A line from the gateway for the user (an origin that failed, a policy change it could not take). With
    /// lines, said at once; while the agent owns the screen, a line there would tear its picture: the title
    /// carries it, and the line waits for the agent's exit. Repeats are said once.
    func gatewayNote(_ line: String) {
        let shown: String? = lock.withLock {
            guard !gatewayNotes.contains(line) else { return nil }
            guard gatewayNotes.count < Self.gatewayNoteLimit else {
                defer { gatewayNotesDropped = true }
                return gatewayNotesDropped ? nil : Self.gatewayNotesDroppedLine
            }
            gatewayNotes.append(line)
            return line
        }
        guard let shown else { return }
        show(shown)
    }

    /// A line now, or the title while the agent owns the screen; on the reporter's queue.
    private func show(_ line: String) {
        let (mode, terminal) = (self.mode, self.terminal)
        queue.async { mode == .lines ? terminal.say(line, terminator: "\n") : terminal.title(line) }
    }

    static let gatewayNotesDroppedLine = "paddock: further gateway notices are not shown (run with --debug to see them)"

    /// A logger for the gateway whose notices and warnings reach the user through `gatewayNote`; lower levels go
    /// to `base` as they would have.
    func gatewayLogger(_ base: Logger) -> Logger {
        Logger(label: base.label) { _ in GatewayNoteHandler(base: base, reporter: self) }
    }

    /// Waits until what was queued for the terminal is written.
    func drain() { queue.sync {} }

    /// After the agent exited: in title mode, the notices and the gateway's notes as lines (and the title cleared).
    func finish() {
        queue.sync {}
        guard mode == .title else { return }
        let shown = lock.withLock {
            self.lines + self.gatewayNotes + (gatewayNotesDropped ? [Self.gatewayNotesDroppedLine] : [])
        }
        guard !shown.isEmpty else { return }
        terminal.title("")
        terminal.say(shown.joined(separator: "\n"), terminator: "\n")
    }
}

/// Hands `notice` and above to the session's reporter, everything else to the logger it replaces.
struct GatewayNoteHandler: LogHandler {
    let base: Logger
    let reporter: DenialReporter
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level

    init(base: Logger, reporter: DenialReporter) {
        self.base = base
        self.reporter = reporter
        self.logLevel = base.logLevel
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        guard event.level >= .notice else {
            base.log(
                level: event.level, event.message, metadata: merged, source: event.source, file: event.file,
                function: event.function, line: event.line)
            return
        }
        reporter.gatewayNote(SafeLogHandler.line(label: base.label, event: event, metadata: merged))
    }
}
