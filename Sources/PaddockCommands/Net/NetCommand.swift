import ArgumentParser

extension Paddock {
    struct NetCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "net", abstract: "Look at what sandboxes connected to.", subcommands: [NetLog.self])
    }
}
