import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock {
    struct Shell: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "shell",
            abstract: "Open an interactive shell in the same sandbox the agent gets.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var session: SessionOptions

        func run() async throws {
            let code = try await SessionLauncher(context: AppContext.live(global))
                .launch(session.launchRequest(command: ["bash", "-l"]))
            throw ExitCode(code)
        }
    }
}
