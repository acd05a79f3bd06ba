import ArgumentParser
import PaddockSession

extension Paddock {
    struct Allow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allow",
            abstract: "Let sandboxes reach hosts: HOST, *.DOMAIN, HOST:PORT or a CIDR block.",
            discussion: "Without a port a rule covers 80 and 443. Running sessions follow the change at once.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var scope: PolicyScope

        @Argument(help: ArgumentHelp("Hosts to allow.", valueName: "host[:port]"))
        var hosts: [String]

        func run() async throws {
            try PolicyEdit(context: AppContext.live(global), scope: scope, key: "allow").apply(hosts)
        }
    }
}
