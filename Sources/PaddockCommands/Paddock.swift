import ArgumentParser
import Foundation
import PaddockCore
import PaddockSession

/// The root of the command tree. `paddock` with no subcommand is `paddock run`.
public struct Paddock: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "paddock",
        abstract:
            "Run a coding agent with every permission on, inside a disposable sandbox whose only way out is an allowlisting gateway.",
        discussion: """
            Exit codes: `run`, `shell` and `exec` exit with the agent's own code. paddock's own failures use:
              64 usage, 66 no such session, 69 engine not reachable, 70 internal or engine failure,
              74 file error, 77 refused (untrusted paddock.toml, dangerous mount), 78 bad configuration,
              128+N the launcher was stopped by signal N.
            """,
        version: PaddockVersion.current,
        subcommands: [
            Run.self, Shell.self, Exec.self, Ps.self, Stop.self, Diff.self, ImageCommand.self, Doctor.self, Init.self,
            Trust.self, Clean.self, Allow.self, Deny.self, PolicyCommand.self, NetCommand.self, Version.self,
        ],
        defaultSubcommand: Run.self
    )

    public init() {}

    /// Maps paddock's errors to their documented exit codes; everything else goes through ArgumentParser.
    public static func launch() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as PaddockError {
            Console.say("paddock: \(error)")
            Foundation.exit(error.exitCode)
        } catch {
            exit(withError: error)
        }
    }
}
