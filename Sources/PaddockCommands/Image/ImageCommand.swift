import ArgumentParser

extension Paddock {
    struct ImageCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "image", abstract: "Build and list sandbox images.",
            subcommands: [ImageBuild.self, ImageLs.self])
    }
}
