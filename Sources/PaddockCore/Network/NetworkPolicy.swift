/// What the gateway lets through, built from the merged `[network]` configuration, the agent profile's hosts and
/// the presets. A plain value: the gateway holds the current one and the launcher swaps it when config changes.
public struct NetworkPolicy: Equatable, Sendable {
    /// Where a rule came from, so a decision can say which line to edit.
    public enum RuleSource: Hashable, Sendable, CustomStringConvertible {
        case allowList
        case denyList
        case preset(String)
        /// The agent profile's own hosts (the Anthropic API for Claude, …).
        case agent

        public var description: String {
            switch self {
            case .allowList: return "allow list"
            case .denyList: return "deny list"
            case .preset(let name): return "preset \(name)"
            case .agent: return "agent profile"
            }
        }
    }

    public struct Entry: Hashable, Sendable {
        public let rule: NetworkRule
        public let source: RuleSource
        /// `github.com (preset github)`, and the reason an allow by this entry gives: made once with the policy
        /// rather than on every connection it decides.
        let label: String
        let allowReason: String

        public init(rule: NetworkRule, source: RuleSource) {
            self.rule = rule
            self.source = source
            label = "\(rule) (\(source))"
            allowReason = "allowed by `\(rule)` (\(source))"
        }
    }

    public let allow: [Entry]
    public let deny: [Entry]
    /// `[network.hosts]`: canonical name → the address the gateway uses instead of DNS.
    public let hosts: [String: IPAddress]
    public let offline: Bool

    /// A policy that lets nothing through.
    public static let offline = NetworkPolicy(allow: [], deny: [], hosts: [:], offline: true)

    public init(allow: [Entry], deny: [Entry], hosts: [String: IPAddress], offline: Bool) {
        self.allow = allow
        self.deny = deny
        self.hosts = hosts
        self.offline = offline
    }

    /// - Parameters:
    ///   - config: the merged `[network]` table (global, trusted project, session flags).
    ///   - agentHosts: rule strings from the agent profile.
    ///   - clients: package client configuration that presets such as `npm` and `pypi` may follow.
    public init(
        config: NetworkConfig, agentHosts: [String] = [], clients: PackageClientConfig = PackageClientConfig()
    ) throws(PolicyError) {
        var allow: [Entry] = []
        func add(_ texts: [String], _ source: RuleSource, to list: inout [Entry]) throws(PolicyError) {
            for text in texts {
                do {
                    let entry = Entry(rule: try NetworkRule(parsing: text), source: source)
                    if !list.contains(entry) { list.append(entry) }
                } catch {
                    throw .invalidRule(source: source, error)
                }
            }
        }
        try add(agentHosts, .agent, to: &allow)
        for name in config.presets {
            guard let rules = NetworkPresets.rules(for: name, clients: clients) else {
                throw .unknownPreset(name)
            }
            try add(rules, .preset(name), to: &allow)
        }
        try add(config.allow, .allowList, to: &allow)
        var deny: [Entry] = []
        try add(config.deny, .denyList, to: &deny)

        var hosts: [String: IPAddress] = [:]
        for (name, value) in config.hosts {
            guard case .name(let canonical)? = try? NetworkHost(parsing: name) else {
                throw .invalidHostsEntry(name: name, value: value, reason: "the key must be a host name")
            }
            guard let network = IPNetwork(value), network.prefixLength == (network.address.isV4 ? 32 : 128) else {
                throw .invalidHostsEntry(name: name, value: value, reason: "the value must be an IP address")
            }
            hosts[canonical] = network.address
        }
        self.init(allow: allow, deny: deny, hosts: hosts, offline: config.offline ?? false)
    }

    /// The address `[network.hosts]` gives `host`, if any.
    public func override(for host: NetworkHost) -> IPAddress? {
        guard case .name(let name) = host else { return nil }
        return hosts[name]
    }

    /// The decision before any resolution. For a name, `allow` means "resolve it and check the addresses with
    /// `decide(_:resolvedTo:)`"; for an IP literal the address check is already included.
    public func decide(_ target: NetworkTarget) -> PolicyDecision {
        if offline { return .offlineDenial }
        if let entry = deny.first(where: {
            $0.rule.matches(target.host) && $0.rule.matches(port: target.port, unspecifiedMeansAny: true)
        }) {
            return .denied(by: entry, target: target)
        }
        guard
            let entry = allow.first(where: {
                $0.rule.matches(target.host) && $0.rule.matches(port: target.port, unspecifiedMeansAny: false)
            })
        else {
            return .notAllowed(target)
        }
        if case .ip(let address) = target.host, let denial = addressDenial(target, address) {
            return denial
        }
        return .allowed(by: entry)
    }

    /// The decision for connecting to `address`, which `target`'s name resolved to (by DNS or `[network.hosts]`).
    /// Refuses deny-listed blocks and restricted ranges (loopback, private, link-local, …) unless a CIDR rule names
    /// that range explicitly.
    public func decide(_ target: NetworkTarget, resolvedTo address: IPAddress) -> PolicyDecision {
        let decision = decide(target)
        guard decision.isAllowed else { return decision }
        return addressDenial(target, address) ?? decision
    }

    private func addressDenial(_ target: NetworkTarget, _ address: IPAddress) -> PolicyDecision? {
        let host = NetworkHost.ip(address)
        if let entry = deny.first(where: {
            $0.rule.matches(host) && $0.rule.matches(port: target.port, unspecifiedMeansAny: true)
        }) {
            return .denied(by: entry, target: target, address: address)
        }
        guard let range = RestrictedAddresses.range(containing: address) else { return nil }
        // Explicit means a block inside the restricted range: `0.0.0.0/0` does not open loopback by accident.
        let exempt = allow.contains { entry in
            guard case .network(let network) = entry.rule.pattern else { return false }
            return range.network.contains(network) && network.contains(address)
                && entry.rule.matches(port: target.port, unspecifiedMeansAny: true)
        }
        return exempt ? nil : .restricted(target, address: address, range: range)
    }

    /// `paddock policy check HOST[:PORT]`: the decision for the target (port 443 when none is given), following
    /// `[network.hosts]` when it maps the name, without any DNS lookup.
    public func check(_ text: String, defaultPort: Int = 443) throws(TargetError) -> PolicyCheck {
        let target = try NetworkTarget(authority: text, defaultPort: defaultPort)
        if let address = override(for: target.host) {
            return PolicyCheck(target: target, override: address, decision: decide(target, resolvedTo: address))
        }
        return PolicyCheck(target: target, override: nil, decision: decide(target))
    }
}

/// The answer of `NetworkPolicy.check`.
public struct PolicyCheck: Equatable, Sendable, CustomStringConvertible {
    public let target: NetworkTarget
    /// The `[network.hosts]` address the name maps to, if any.
    public let override: IPAddress?
    public let decision: PolicyDecision

    public var description: String {
        let via = override.map { " (via [network.hosts] → \($0))" } ?? ""
        var text = "\(target)\(via): \(decision.isAllowed ? "allowed" : "denied") — \(decision.reason)"
        if let hint = decision.hint { text += "\nTo allow it: \(hint)" }
        return text
    }
}

/// A verdict with the rule that made it, the reason in words and, for denials, the command that would allow it.
public struct PolicyDecision: Hashable, Sendable {
    public enum Verdict: String, Hashable, Sendable {
        case allow
        case deny
    }

    /// What kind of thing decided, for the log and for filtering.
    public enum Basis: String, Hashable, Sendable {
        case rule
        /// No rule allows the target: the default denial.
        case noMatchingRule = "default"
        case restrictedAddress = "restricted-address"
        case offline
    }

    public let verdict: Verdict
    public let basis: Basis
    /// The rule that decided, as canonically written; nil for the default denial and offline.
    public let rule: NetworkRule?
    public let source: NetworkPolicy.RuleSource?
    public let reason: String
    /// The exact command that would allow the target, when one would.
    public let hint: String?

    public var isAllowed: Bool { verdict == .allow }

    /// For the log: `github.com (preset github)`, or `default` / `offline`.
    public var ruleDescription: String {
        label ?? basis.rawValue
    }

    /// The deciding entry's ready-made `rule (source)`; nil when no entry decided.
    private var label: String? = nil

    static let offlineDenial = PolicyDecision(
        verdict: .deny, basis: .offline, rule: nil, source: nil,
        reason: "offline: this session has no network (--offline or `offline = true` in [network])", hint: nil)

    static func allowed(by entry: NetworkPolicy.Entry) -> PolicyDecision {
        PolicyDecision(
            verdict: .allow, basis: .rule, rule: entry.rule, source: entry.source, reason: entry.allowReason, hint: nil,
            label: entry.label)
    }

    static func denied(by entry: NetworkPolicy.Entry, target: NetworkTarget, address: IPAddress? = nil)
        -> PolicyDecision
    {
        let resolved = address.map { " (resolved to \($0))" } ?? ""
        return PolicyDecision(
            verdict: .deny, basis: .rule, rule: entry.rule, source: entry.source,
            reason: "\(target)\(resolved) is denied by `\(entry.rule)` in the \(entry.source); "
                + "remove that rule to allow it (deny wins over allow)",
            hint: nil, label: entry.label)
    }

    static func unreadByRequestRules(_ target: NetworkTarget, host: String, ports: [Int], plain: Bool)
        -> PolicyDecision
    {
        let read = Array(Set(ports)).sorted().map { "https://\(host):\($0)" }.joined(separator: ", ")
        let way = plain ? "a plain http:// request" : "a connection on port \(target.port)"
        return PolicyDecision(
            verdict: .deny, basis: .rule, rule: nil, source: nil,
            reason: "\(host) has [[network.requests]] rules, which the gateway reads only on \(read); \(way) would "
                + "pass them unread. Use \(read), or remove the host's [[network.requests]] rules to reach it otherwise",
            hint: nil, label: "request rules on \(host)")
    }

    static func notAllowed(_ target: NetworkTarget) -> PolicyDecision {
        let portSuffix = NetworkRule.defaultPorts.contains(target.port) ? "" : ":\(target.port)"
        let rule: String
        switch target.host {
        case .name(let name):
            rule = name + portSuffix
        case .ip(let address):
            let block = "\(address)/\(address.isV4 ? 32 : 128)"
            rule = portSuffix.isEmpty ? block : (address.isV4 ? block + portSuffix : "[\(block)]" + portSuffix)
        }
        let what = if case .ip = target.host { "IP addresses need a CIDR rule; " } else { "" }
        return PolicyDecision(
            verdict: .deny, basis: .noMatchingRule, rule: nil, source: nil,
            reason: "\(target) is not in the allowlist; \(what)no rule allows it", hint: "paddock allow \(rule)")
    }

    static func restricted(_ target: NetworkTarget, address: IPAddress, range: RestrictedAddresses.Range)
        -> PolicyDecision
    {
        let block = "\(address)/\(address.isV4 ? 32 : 128)"
        let resolved =
            if case .name = target.host { "\(target.host) resolved to \(address), " } else { "\(address) is " }
        return PolicyDecision(
            verdict: .deny, basis: .restrictedAddress, rule: nil, source: nil,
            reason: "\(resolved)a \(range.name) address, which only a CIDR rule naming it can open",
            hint: "paddock allow \(block)")
    }
}

public enum PolicyError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidRule(source: NetworkPolicy.RuleSource, RuleError)
    case unknownPreset(String)
    case invalidHostsEntry(name: String, value: String, reason: String)

    public var description: String {
        switch self {
        case .invalidRule(let source, let error):
            return "invalid network rule in the \(source): \(error)"
        case .unknownPreset(let name):
            return "unknown network preset \(name.debugDescription); known presets: "
                + NetworkPresets.names.joined(separator: ", ")
        case .invalidHostsEntry(let name, let value, let reason):
            return "[network.hosts] \(name.debugDescription) = \(value.debugDescription): \(reason)"
        }
    }
}
