import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock {
    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stop", abstract: "Stop a session (its container is removed; its files stay).")

        @OptionGroup var global: GlobalOptions

        @Argument(
            help: "The session id (or a unique prefix), as `paddock ps` shows it (default: this project's latest).")
        var session: String?

        @Flag(name: .long, help: "Stop every session.")
        var all = false

        func validate() throws {
            if all, session != nil { throw ValidationError("Name one session, or pass --all, not both.") }
        }

        func run() async throws {
            let context = try await AppContext.live(global, engine: nil)
            let running = try await context.engine.containers(all: true)
            let targets =
                try all
                ? running : [SessionLookup.container(matching: session, in: running, project: context.projectRoot)]
            for container in targets {
                if container.state == "running" {
                    try? await context.engine.stop(container: container.name, timeoutSeconds: 10)
                }
                try await context.engine.remove(containers: [container.name])
                Console.out("stopped \(SafeText.quoted(container.labels[SessionLabels.session] ?? container.name))")
            }
        }
    }
}
