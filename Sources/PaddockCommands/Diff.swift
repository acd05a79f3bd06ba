import ArgumentParser
import PaddockCore
import PaddockSession
import PaddockWorkspace

extension Paddock {
    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "Show what a clone-mode session changed against where it started.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The session id, as `paddock ps --all` shows it.")
        var session: String

        @Option(name: .long, help: "Which repository, when the session had several (--repo).")
        var repo: String?

        @Argument(parsing: .postTerminator, help: "Extra `git diff` options (after --), for example --stat.")
        var gitArguments: [String] = []

        func validate() throws {
            if SessionID(session) == nil {
                throw ValidationError("\(session) is not a session id; `paddock ps --all` lists them.")
            }
            // Display options only: nothing that writes files or runs a program named by configuration.
            let forbidden = ["output", "ext-diff", "textconv", "exec"]
            if let bad = gitArguments.first(where: { argument in
                !argument.hasPrefix("-") || forbidden.contains(where: { argument.contains($0) })
            }) {
                throw ValidationError("Only display options of `git diff` go after --, not \(bad).")
            }
        }

        func run() async throws {
            let context = AppContext.live(global)
            let store = CloneStore(root: context.paths.clonesDirectory, git: Git(runner: context.runner))
            let names = try await store.list().filter { $0.record.sessionID == session }.map(\.record.name)
            guard !names.isEmpty else {
                throw PaddockError.notFound("Session \(session) has no clone. `paddock ps --all` lists the kept ones.")
            }
            let chosen = repo.map { [$0] } ?? names
            for name in chosen {
                if chosen.count > 1 { Console.out("# \(SafeText.quoted(name))") }
                // The diff shows what the agent wrote, names and contents: git quotes the names, Console escapes
                // the rest (an escape sequence in a file shows as `\033`). No colour: its sequences would be escaped
                // too, and the user's git config could ask for them.
                let diff = try await store.diff(
                    sessionID: session, name: name, extraArguments: gitArguments + ["--no-color"])
                Console.out(diff, terminator: "")
            }
        }
    }
}
