import ArgumentParser
import PaddockCore
import PaddockSession

extension Paddock {
    struct Version: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "version", abstract: "Print paddock's version.")

        func run() async throws {
            Console.out("paddock \(PaddockVersion.current)")
        }
    }
}
