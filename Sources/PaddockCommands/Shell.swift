import ArgumentParser
import PaddockCore

extension Paddock {
    struct Shell: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "shell",
            abstract: "Open an interactive shell in the same sandbox the agent gets.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var session: SessionOptions

        func run() async throws {
            let context = try await AppContext.live(global, engine: session.engine)
            let code = try await SessionLauncher(
                context: context, options: session, commandOverride: ["bash", "-l"], userArguments: []
            ).launch()
            throw ExitCode(code)
        }
    }
}
