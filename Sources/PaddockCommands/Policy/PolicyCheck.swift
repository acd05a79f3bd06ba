import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock.PolicyCommand {
    struct PolicyCheck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check", abstract: "Say whether a host would be let through, and which rule decides.",
            discussion:
                "Exits 0 when allowed, 1 when denied. No DNS lookup is made; [network.hosts] mappings are followed.")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "Include one session's own additions.")
        var session: String?

        @Option(name: .long, help: "The agent whose hosts to include (default: from configuration).")
        var agent: String?

        @Argument(help: ArgumentHelp("The target; port 443 when none is given.", valueName: "host[:port]"))
        var target: String

        func run() async throws {
            let context = AppContext.live(global)
            let policy = try PolicyContext(context: context, session: session, agent: agent).source().policy()
            let check: PaddockCore.PolicyCheck
            do {
                check = try policy.check(target)
            } catch {
                throw PaddockError.invalidArgument("\(target) is not a target paddock would accept: \(error)")
            }
            Console.out(check.description)
            if !check.decision.isAllowed { throw ExitCode(1) }
        }
    }
}
