@testable import PaddockCore

/// `paddock.toml` as the agent may leave it: parsed (TOMLKit, then paddock's reader), turned into a policy, and
/// edited by `paddock allow` / `deny`. An edit must change exactly the list it edits, or refuse.
enum ConfigFuzz {
    static let added = "added.fuzz.test"

    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let config = try? ConfigParser.parse(text, file: "paddock.toml") else { return }
        if let policy = try? NetworkPolicy(config: config.network) {
            for rule in policy.allow + policy.deny {
                if case .exact(let name) = rule.rule.pattern {
                    _ = policy.decide(NetworkTarget(host: .name(name), port: 443))
                }
            }
        }
        for key in ["allow", "deny"] {
            guard
                let edited = try? ConfigListEditor.adding(
                    [added], to: key, inTable: "network", in: text, file: "paddock.toml")
            else { continue }
            var expected = config
            if key == "allow" {
                expected.network.allow = expected.network.allow.mergedUnique([added])
            } else {
                expected.network.deny = expected.network.deny.mergedUnique([added])
            }
            let after = try? ConfigParser.parse(edited, file: "paddock.toml")
            invariant(
                after == expected,
                "adding to network.\(key) changed more than that list:\n--- before\n\(text)\n--- after\n\(edited)")
        }
    }
}
