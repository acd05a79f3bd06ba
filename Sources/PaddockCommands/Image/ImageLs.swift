import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock.ImageCommand {
    struct ImageLs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List sandbox images.")

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Print JSON instead of a table.")
        var json = false

        func run() async throws {
            let context = try await AppContext.live(global, engine: nil)
            let images = try await context.engine.images(withLabel: ImageRecipe.contextLabel)
            if json {
                Console.json(OutputRenderer.json(images))
            } else {
                Console.out(
                    OutputRenderer.table(
                        headers: ["IMAGE", "CREATED", "SIZE"], rows: images.map { [$0.reference, $0.created, $0.size] })
                )
            }
        }
    }
}
