import Foundation
import Logging
import PaddockCore

/// The only way paddock's commands write to the terminal. Messages carry names the agent chose (paths, refs, hosts,
/// git's output, file contents), so every write passes through `SafeText`: a value the agent planted can never
/// drive the user's terminal, whichever message forgot to quote it. Values inside a message should still be
/// `SafeText.quoted`, which also escapes line breaks and shows where the value ends.
public enum Console {
    /// The command's real output, on stdout.
    public static func out(_ text: String, terminator: String = "\n") {
        FileHandle.standardOutput.write(Data((SafeText.text(text) + terminator).utf8))
    }

    /// JSON for programs, on stdout: controls JSONEncoder leaves raw are escaped as `\uXXXX`.
    public static func json(_ encoded: String) {
        FileHandle.standardOutput.write(Data((SafeText.json(encoded) + "\n").utf8))
    }

    /// A message for the user, on stderr.
    public static func say(_ text: String, terminator: String = "\n") {
        FileHandle.standardError.write(Data((SafeText.text(text) + terminator).utf8))
    }

    /// The terminal's title (OSC 2): paddock's own sequence around text reduced to printable ASCII.
    public static func title(_ text: String) {
        FileHandle.standardError.write(Data(DenialNotices.title(text).utf8))
    }

    /// A progress line on a terminal's stderr, replacing the one before: paddock's own carriage return and
    /// erase-line, then the text on one line.
    public static func progress(_ text: String) {
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + SafeText.line(text)).utf8))
    }
}

/// swift-log to stderr, one line per entry whatever the message and metadata hold.
struct SafeLogHandler: LogHandler {
    var label: String
    var logLevel: Logger.Level = .notice
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        FileHandle.standardError.write(Data((Self.line(label: label, event: event, metadata: merged) + "\n").utf8))
    }

    /// One entry as one inert line: `label: level: message key="value"…`.
    static func line(label: String, event: LogEvent, metadata: Logger.Metadata) -> String {
        var text = "\(label): \(event.level): \(event.message)"
        if !metadata.isEmpty {
            text +=
                " "
                + metadata.keys.sorted().map { "\($0)=\(SafeText.quoted("\(metadata[$0] ?? "")"))" }.joined(
                    separator: " ")
        }
        return SafeText.line(text)
    }
}

/// The terminal as a session sees it: messages, progress, the title and the one question it asks. Tests pass
/// their own, so a session that writes where it should not is seen.
public protocol Terminal: Sendable {
    /// A command's real output, on stdout.
    func out(_ text: String)
    func say(_ text: String, terminator: String)
    func progress(_ text: String)
    func title(_ text: String)
    /// A line the user typed, or nil at end of input.
    func readLine() -> String?
}

extension Terminal {
    /// Asks a yes/no question; anything but y or yes, or the end of input, is no.
    public func confirm(_ question: String) -> Bool {
        say(question + " [y/N] ", terminator: "")
        guard let answer = readLine() else { return false }
        return ["y", "yes"].contains(answer.trimmingCharacters(in: .whitespaces).lowercased())
    }
}

/// The process's own stderr and stdin, through `Console`.
public struct LiveTerminal: Terminal {
    public init() {}
    public func out(_ text: String) { Console.out(text) }
    public func say(_ text: String, terminator: String) { Console.say(text, terminator: terminator) }
    public func progress(_ text: String) { Console.progress(text) }
    public func title(_ text: String) { Console.title(text) }
    public func readLine() -> String? { Swift.readLine() }
}
