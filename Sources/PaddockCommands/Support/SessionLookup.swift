import PaddockCore
import PaddockEngine

/// Finds a running session's container from what the user typed: a full session id or a unique prefix of one.
enum SessionLookup {
    static func container(matching text: String, in containers: [ContainerSummary]) throws -> ContainerSummary {
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
}
