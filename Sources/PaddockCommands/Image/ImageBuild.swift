import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock.ImageCommand {
    struct ImageBuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build", abstract: "Build the sandbox image for this project's configuration.")

        @OptionGroup var global: GlobalOptions

        @Option(name: .long, help: "The agent whose image to build (default: from configuration, else claude).")
        var agent: String?

        @Flag(name: .long, help: "Build every step again.")
        var noCache = false

        @Flag(name: .long, help: "Fetch a newer base image first.")
        var pull = false

        func run() async throws {
            let context = try await AppContext.live(global, engine: nil)
            var flags = PaddockConfig()
            flags.agent = agent
            let config = try context.configLoader.load(projectRoot: context.projectRoot, flags: flags).effective
            let profile = try AgentProfile.named(config.agent ?? AgentProfile.claude.name)
            let builder = ImageBuilder(context: context)
            let recipe = try builder.recipe(for: config, profile: profile)
            // Asking for a build means building, even when the hash says it is current.
            try await builder.ensure(recipe, force: true, noCache: noCache, pull: pull)
            Console.out(recipe.tag)
        }
    }
}
