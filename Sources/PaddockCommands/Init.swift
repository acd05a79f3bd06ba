import ArgumentParser
import Foundation
import PaddockCore

extension Paddock {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Write a commented paddock.toml for this project, and trust it.")

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Replace an existing paddock.toml.")
        var force = false

        static let template = """
            # paddock.toml: this project's sandbox. The agent can edit this file, so paddock applies it only
            # after you approve its exact contents with `paddock trust` (paddock init trusts what it writes).

            # The agent: "claude" (default), "codex", "gemini" or "shell".
            # agent = "claude"

            # "mount" (default): the project itself at /workspace, edits live.
            # "clone": a per-session clone; work comes back as the branch paddock/<session>.
            # isolate = "mount"

            [image]
            # base = "debian:bookworm-slim"
            # Debian packages added to the image (a change rebuilds it).
            packages = []

            [resources]
            # cpus = 2
            # memory = "8g"
            # pids = 4096

            # Extra host paths, read-only unless rw = true. ~/.ssh, cloud credentials and the home folder are refused.
            # [[mounts]]
            # path = "~/datasets"
            # target = "/mnt/datasets"
            # rw = false

            # Host environment variables passed through (names only; values never appear in argv).
            env = []

            [network]
            # Hosts the sandbox may reach through paddock's gateway (everything else is refused).
            # presets = ["github"]
            # allow = ["example.com", "*.example.org", "github.com:22"]
            # deny = ["gist.github.com"]

            """

        func run() async throws {
            let context = AppContext.live(global)
            let loader = context.configLoader
            let file = loader.projectFile(forProject: context.projectRoot)
            if FileManager.default.fileExists(atPath: file), !force {
                throw PaddockError.invalidArgument("\(file) already exists; pass --force to replace it.")
            }
            _ = try ConfigParser.parse(Self.template, file: file)
            do {
                try Self.template.write(toFile: file, atomically: true, encoding: .utf8)
            } catch {
                throw PaddockError.fileSystem(path: file, message: "cannot write: \(error)")
            }
            try loader.trust.trust(file: file, content: Self.template)
            Console.out("wrote and trusted \(file)")
        }
    }
}
