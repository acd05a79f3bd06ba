import ArgumentParser
import PaddockSession

extension Paddock {
    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "deny",
            abstract: "Refuse hosts even when another rule allows them (deny wins).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: PolicyScope

        @Argument(help: ArgumentHelp("Hosts to deny.", valueName: "host[:port]"))
        var hosts: [String]

        func run() async throws {
            try PolicyEdit(context: AppContext.live(global), scope: scope, key: "deny").apply(hosts)
        }
    }
}
