import ArgumentParser
import PaddockCore

/// The root of the command tree. `paddock` with no subcommand is `paddock run`.
public struct Paddock: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "paddock",
        abstract: "Run a coding agent with every permission on, inside a disposable, offline-by-default sandbox.",
        version: PaddockVersion.current,
        subcommands: [Version.self]
    )

    public init() {}
}
