import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock {
    struct Exec: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "exec",
            abstract: "Run a command inside a running session's sandbox, as the agent's user.")

        @OptionGroup var global: GlobalOptions

        @Argument(
            help:
                "The session id (or a unique prefix of it), as `paddock ps` shows it (default: this project's latest).")
        var session: String?

        @Argument(parsing: .postTerminator, help: "The command to run (after --).")
        var command: [String] = []

        func validate() throws {
            if command.isEmpty {
                throw ValidationError(
                    "Give the command after --, for example `paddock exec \(session ?? "SESSION") -- bash`.")
            }
        }

        func run() async throws {
            let context = try await AppContext.live(global, engine: nil)
            let running = try await context.engine.containers(all: false)
            let container = try SessionLookup.container(matching: session, in: running, project: context.projectRoot)
            let user = context.sandboxUser
            let code = try await context.engine.exec(
                container: container.name, user: "\(user.uid):\(user.gid)", command: command,
                tty: context.stdinIsTerminal && context.stdoutIsTerminal)
            throw ExitCode(code)
        }
    }
}
