import ArgumentParser
import Foundation
import PaddockCore
import PaddockSession

extension Paddock {
    struct Trust: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "trust",
            abstract: "Approve this project's paddock.toml as it is now.",
            discussion:
                "The agent can edit paddock.toml, so paddock applies it only in a form you approved. Review the file (or the diff `paddock run` showed) before trusting it."
        )

        @OptionGroup var global: GlobalOptions

        @Flag(name: .long, help: "Only say whether the file is trusted; exit 77 if not.")
        var check = false

        func run() async throws {
            let context = AppContext.live(global)
            let loader = context.configLoader
            let file = loader.projectFile(forProject: context.projectRoot)
            guard let layer = try ConfigLoader.layer(at: file) else {
                throw PaddockError.notFound("There is no \(file). `paddock init` writes one.")
            }
            let status = try loader.trust.status(file: file, content: layer.text)
            if check {
                switch status {
                case .trusted: Console.out("\(file) is trusted")
                case .neverTrusted(let diff), .changed(let diff):
                    throw PaddockError.untrustedProjectConfig(file: file, diff: diff)
                }
                return
            }
            switch status {
            case .trusted:
                Console.out("\(file) is already trusted")
            case .neverTrusted(let diff), .changed(let diff):
                // What is trusted is the text read once and shown here, whatever the file holds by the answer.
                context.say(diff)
                if context.stdinIsTerminal, context.stderrIsTerminal {
                    guard context.terminal.confirm("Trust this version of \(file)?") else {
                        throw PaddockError.untrustedProjectConfig(file: file, diff: diff)
                    }
                }
                try loader.trust.trust(file: file, content: layer.text)
                Console.out("trusted \(file) (sha256 \(Hashing.sha256Hex(layer.text).prefix(16))…)")
            }
        }
    }
}
