import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock.PolicyCommand {
    struct PolicyShow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Print the rules in force.")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "Include one session's own additions.")
        var session: String?

        @Option(name: .long, help: "The agent whose hosts to include (default: from configuration).")
        var agent: String?

        @Flag(name: .long, help: "Print JSON.")
        var json = false

        struct Row: Codable {
            var list: String
            var rule: String
            var source: String
        }

        func run() async throws {
            let context = AppContext.live(global)
            let policy = try PolicyContext(context: context, session: session, agent: agent).source().policy()
            var rows = policy.allow.map { Row(list: "allow", rule: "\($0.rule)", source: "\($0.source)") }
            rows += policy.deny.map { Row(list: "deny", rule: "\($0.rule)", source: "\($0.source)") }
            rows += policy.hosts.keys.sorted().map {
                Row(list: "hosts", rule: "\($0) = \(policy.hosts[$0].map { "\($0)" } ?? "")", source: "[network.hosts]")
            }
            if json {
                Console.json(OutputRenderer.json(rows))
                return
            }
            if policy.offline { Console.out("offline: nothing is reachable") }
            Console.out(
                OutputRenderer.table(
                    headers: ["LIST", "RULE", "FROM"], rows: rows.map { [$0.list, $0.rule, $0.source] }))
            Console.out(
                "Everything else is denied; so are IP literals without a CIDR rule, and private, loopback and link-local addresses."
            )
        }
    }
}
