import ArgumentParser
import Foundation
import PaddockCore
import PaddockSession

/// Where `paddock allow` and `paddock deny` write.
struct PolicyScope: ParsableArguments {
    @Flag(name: .long, help: "This project's paddock.toml (the default); paddock re-trusts its own edit.")
    var project = false

    @Flag(name: .long, help: "Your global config.toml: every project.")
    var global = false

    @Option(name: .long, help: "Only this running session, until it ends.")
    var session: String?

    func validate() throws {
        if [project, global, session != nil].filter({ $0 }).count > 1 {
            throw ValidationError("Choose one of --project, --global and --session.")
        }
        if let session, SessionID(session) == nil {
            throw ValidationError("\(session) is not a session id; `paddock ps` lists them.")
        }
    }
}

/// Adds hosts to an allow or deny list in the chosen file. Running sessions pick the change up within a second.
struct PolicyEdit {
    var context: AppContext
    var scope: PolicyScope
    var key: String

    func apply(_ hosts: [String]) throws {
        for host in hosts {
            do {
                _ = try NetworkRule(parsing: host)
            } catch {
                throw PaddockError.invalidArgument("\(host) is not a host rule: \(error)")
            }
        }
        let file: String
        var trust: TrustStore?
        if let session = scope.session.flatMap(SessionID.init) {
            guard FileManager.default.fileExists(atPath: context.paths.sessionDirectory(session)) else {
                throw PaddockError.notFound("No session \(session.rawValue). `paddock ps` lists the running ones.")
            }
            file = NetworkPolicySource.sessionFile(session, paths: context.paths)
        } else if scope.global {
            file = context.paths.globalConfigFile
        } else {
            file = context.configLoader.projectFile(forProject: context.projectRoot)
            trust = context.configLoader.trust
        }
        let changed = try ConfigFileEdit.apply(file: file, trust: trust) { text in
            try ConfigListEditor.adding(hosts, to: key, inTable: "network", in: text, file: file)
        }
        guard changed else {
            Console.out("already in `network.\(key)` of \(file)")
            return
        }
        Console.out(
            "added \(hosts.joined(separator: ", ")) to `network.\(key)` in \(file); running sessions follow within a second"
        )
    }
}
