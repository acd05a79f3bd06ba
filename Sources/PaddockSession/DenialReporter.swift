import Dispatch
import Foundation
import PaddockCore
import PaddockGateway

/// Tells the user of denied connections while the session runs (see `DenialNotices` for how and why). Called on
/// the gateway's event loops, so it only queues: the writes to the terminal happen on a queue of its own.
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
        let (mode, terminal) = (self.mode, self.terminal)
        queue.async { mode == .lines ? terminal.say(notice, terminator: "\n") : terminal.title(notice) }
    }

    /// After the agent exited: in title mode, the notices as lines (and the title cleared).
    func finish() {
        queue.sync {}
        guard mode == .title else { return }
        let lines = lock.withLock { self.lines }
        guard !lines.isEmpty else { return }
        terminal.title("")
        terminal.say(lines.joined(separator: "\n"), terminator: "\n")
    }
}
