import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock {
    struct PolicyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "policy", abstract: "Show the network policy, or check one host against it.",
            subcommands: [PolicyShow.self, PolicyCheck.self])
    }
}

/// The policy a session in this project gets: global, trusted project, and one session's own additions.
struct PolicyContext {
    var context: AppContext
    var session: String?
    var agent: String?

    func source() throws -> NetworkPolicySource {
        var flags = PaddockConfig()
        flags.agent = agent
        let config = try context.configLoader.load(projectRoot: context.projectRoot, flags: flags).effective
        let profile = try AgentProfile.named(config.agent ?? AgentProfile.claude.name)
        let id = try session.map { text -> SessionID in
            guard let id = SessionID(text) else { throw PaddockError.invalidArgument("\(text) is not a session id.") }
            return id
        }
        return NetworkPolicySource(
            paths: context.paths, projectRoot: context.projectRoot, sessionID: id, flags: PaddockConfig(),
            profile: profile)
    }
}
