import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock {
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Start the agent in a sandbox on this project (the default command).",
            discussion:
                "Arguments after -- go to the agent: `paddock run -- -c` continues Claude's last conversation; with --agent shell they are the command to run."
        )

        @OptionGroup var global: GlobalOptions
        @OptionGroup var session: SessionOptions

        @Option(
            help:
                "Continue the agent's conversation ID (Claude prints `paddock --resume ID` when it exits); the same as `-- --resume ID`."
        )
        var resume: String?

        @Argument(parsing: .postTerminator, help: "Arguments for the agent (after --).")
        var agentArguments: [String] = []

        func validate() throws {
            if let resume, resume.isEmpty || resume.hasPrefix("-") {
                throw ValidationError(
                    "--resume takes the conversation id the agent printed, for example `paddock --resume 3f2a…`.")
            }
        }

        func run() async throws {
            let request = session.launchRequest(
                agentArguments: (resume.map { ["--resume", $0] } ?? []) + agentArguments)
            let code = try await SessionLauncher(context: AppContext.live(global)).launch(request)
            throw ExitCode(code)
        }
    }
}
