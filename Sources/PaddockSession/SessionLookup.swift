import PaddockCore
import PaddockEngine

/// Finds a running session's container from what the user typed: a full session id or a unique prefix of one, or,
/// when nothing was typed, the session of this project that started last.
public enum SessionLookup {
    public static func container(matching text: String, in containers: [ContainerSummary]) throws -> ContainerSummary {
        guard !text.isEmpty, !text.hasPrefix("-") else {
            throw PaddockError.invalidArgument("Name a session by its id, as `paddock ps` shows it.")
        }
        let matches = containers.filter { ($0.labels[SessionLabels.session] ?? "").hasPrefix(text) }
        if let exact = matches.first(where: { $0.labels[SessionLabels.session] == text }) { return exact }
        switch matches.count {
        case 1: return matches[0]
        case 0: throw PaddockError.notFound("No session matches \"\(text)\". `paddock ps` lists the running ones.")
        default:
            let ids = matches.compactMap { $0.labels[SessionLabels.session] }.joined(separator: ", ")
            throw PaddockError.invalidArgument("\"\(text)\" matches several sessions (\(ids)); type more of the id.")
        }
    }

    /// The named session, or with no name the latest start among `project`'s sessions.
    public static func container(
        matching text: String?, in containers: [ContainerSummary], project: String
    ) throws -> ContainerSummary {
        if let text { return try container(matching: text, in: containers) }
        guard let latest = latest(of: project, in: containers) else {
            throw PaddockError.notFound(
                "No running session of \(project). Name one (`paddock ps` lists them), or start one with `paddock run`."
            )
        }
        return latest
    }

    public static func latest(of project: String, in containers: [ContainerSummary]) -> ContainerSummary? {
        SessionLabels.latest(of: project, among: containers.map(\.labels)).map { containers[$0] }
    }
}
