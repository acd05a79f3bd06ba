import Foundation
import PaddockCore

/// The stable end of each credential variable's placeholder (see `SessionSecrets.placeholder`): 20 random hex
/// characters per user and variable, made on first use and kept in paddock's state directory, which no sandbox
/// sees. Random, so it carries nothing of a secret; a file that cannot be read or written only means placeholders
/// without a stable end, and the agent asks about its key again.
struct PlaceholderTails {
    var paths: PaddockPaths

    var file: String { paths.stateDirectory + "/placeholder-tails.json" }

    /// The tail for each variable a credential rule may name; `variables` are given one if they have none yet.
    func tails(for variables: [String] = Self.knownVariables) -> [String: String] {
        var known = (FileManager.default.contents(atPath: file))
            .flatMap { try? JSONDecoder().decode([String: String].self, from: $0) } ?? [:]
        known = known.filter { Self.isTail($0.value) }
        let missing = variables.filter { known[$0] == nil }
        guard !missing.isEmpty else { return known }
        for variable in missing { known[variable] = String(SessionSecrets.randomToken().prefix(20)) }
        do {
            try FileManager.default.createDirectory(atPath: paths.stateDirectory, withIntermediateDirectories: true)
            let data = try JSONEncoder().encode(known)
            try data.write(to: URL(fileURLWithPath: file), options: .atomic)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        } catch {
            return [:]
        }
        return known
    }

    /// The variables of every profile's credential rules: a user's own rules get a tail on first use.
    static var knownVariables: [String] {
        AgentProfile.all.flatMap { $0.credentialRules.map(\.variable) }
    }

    static func isTail(_ text: String) -> Bool {
        text.count == 20 && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }
}
