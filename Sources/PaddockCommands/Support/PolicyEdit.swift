import ArgumentParser
import Foundation
import PaddockCore

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
        var retrust = false
        if let session = scope.session.flatMap(SessionID.init) {
            guard FileManager.default.fileExists(atPath: context.paths.sessionDirectory(session)) else {
                throw PaddockError.notFound("No session \(session.rawValue). `paddock ps` lists the running ones.")
            }
            file = NetworkPolicySource.sessionFile(session, paths: context.paths)
        } else if scope.global {
            file = context.paths.globalConfigFile
        } else {
            file = context.configLoader.projectFile(forProject: context.projectRoot)
            // Only a file the user already trusts may be edited and re-trusted: otherwise paddock would bless
            // whatever the agent wrote into it.
            if let text = try? String(contentsOfFile: file, encoding: .utf8) {
                switch try context.configLoader.trust.status(file: file, content: text) {
                case .trusted: break
                case .neverTrusted(let diff), .changed(let diff):
                    throw PaddockError.untrustedProjectConfig(file: file, diff: diff)
                }
            }
            retrust = true
        }
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        let edited = try ConfigListEditor.adding(hosts, to: key, inTable: "network", in: text, file: file)
        guard edited != text else {
            Console.out("already in `network.\(key)` of \(file)")
            return
        }
        do {
            try FileManager.default.createDirectory(
                atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try edited.write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            throw PaddockError.fileSystem(path: file, message: "cannot write: \(error)")
        }
        if retrust { try context.configLoader.trust.trust(file: file, content: edited) }
        Console.out("added \(hosts.joined(separator: ", ")) to `network.\(key)` in \(file); running sessions follow within a second")
    }
}
