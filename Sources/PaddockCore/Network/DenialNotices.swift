/// What the user is told, while the session runs, about connections the gateway refused: a denied host can be what
/// stops the agent, and the agent may show only its own error (Claude: `ERR_PROXY_TUNNEL`). One notice per target,
/// the first time, with the command that allows it.
///
/// How it reaches the user depends on who owns the terminal. In print mode (no terminal, or output captured) the
/// notice is a line on stderr at once, beside the agent's stdout. A full-screen agent owns the screen, where a line
/// would tear its layout: there the notice goes to the terminal's title (which tmux, terminal tabs and window
/// titles show) and the list is printed again when the agent has exited.
public struct DenialNotices: Sendable {
    /// Distinct denied targets, in the order first seen.
    public private(set) var targets: [String] = []
    /// Beyond this many distinct targets, no more notices: the end line still counts them.
    public static let limit = 20

    public init() {}

    /// The notice for `record` when it is the first denial of its target; nil for everything else.
    public mutating func notice(for record: ConnectionRecord) -> String? {
        guard record.decision == .deny, targets.count < Self.limit else { return nil }
        let target = Self.target(record)
        guard !targets.contains(target) else { return nil }
        targets.append(target)
        let advice = Self.allowCommand(record).map { "`\($0)` allows it" } ?? (record.reason ?? record.rule)
        return Self.printable("paddock: blocked \(target) — \(advice)")
    }

    /// `paddock allow HOST[:PORT]` when no rule allowed the target; nil when a rule denied it or it was offline
    /// (the reason says what to do then).
    public static func allowCommand(_ record: ConnectionRecord) -> String? {
        guard record.rule == "default" else { return nil }
        let port = record.port.map { [80, 443].contains($0) ? "" : ":\($0)" } ?? ""
        return "paddock allow \(record.host)\(port)"
    }

    static func target(_ record: ConnectionRecord) -> String {
        record.port.map { "\(record.host):\($0)" } ?? record.host
    }

    /// The terminal title escape (OSC 2) carrying `text`.
    public static func title(_ text: String) -> String { "\u{1B}]2;\(printable(text))\u{07}" }

    /// Printable ASCII only: the host is the gateway's canonical form, but a notice is no place to trust that.
    public static func printable(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.map { scalar in
                    (0x20..<0x7F).contains(scalar.value) || scalar == "—" ? scalar : "?"
                }))
    }
}
