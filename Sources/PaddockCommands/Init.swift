import ArgumentParser
import Foundation
import PaddockCore
import PaddockSession

extension Paddock {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Write a commented paddock.toml for this project, and trust it.")

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Replace an existing paddock.toml.")
        var force = false

        func run() async throws {
            let context = AppContext.live(global)
            let loader = context.configLoader
            let file = loader.projectFile(forProject: context.projectRoot)
            if FileManager.default.fileExists(atPath: file), !force {
                throw PaddockError.invalidArgument("\(file) already exists; pass --force to replace it.")
            }
            _ = try ConfigParser.parse(ConfigTemplate.project, file: file)
            do {
                try ConfigTemplate.project.write(toFile: file, atomically: true, encoding: .utf8)
            } catch {
                throw PaddockError.fileSystem(path: file, message: "cannot write: \(error)")
            }
            try loader.trust.trust(file: file, content: ConfigTemplate.project)
            Console.out("wrote and trusted \(file)")
        }
    }
}
