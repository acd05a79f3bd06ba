import Foundation

/// A secret's value. It prints as a mark, so no log line, error or `dump` shows it by accident.
public struct SecretValue: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public let text: String
    public init(_ text: String) { self.text = text }
    public var description: String { "<secret>" }
    public var debugDescription: String { "<secret>" }
    public var customMirror: Mirror { Mirror(self, children: []) }
}

/// One credential rule whose secret the launcher read, with the placeholder the sandbox holds instead.
public struct ResolvedCredential: Sendable, Equatable {
    public var rule: CredentialRule
    public var placeholder: String
    public var secret: SecretValue
}

/// What the gateway needs to add credentials and check requests, and what the sandbox gets instead of secrets.
public struct SessionSecrets: Sendable, Equatable {
    public var credentials: [ResolvedCredential]
    public var requestRules: [RequestRule]

    public init(credentials: [ResolvedCredential] = [], requestRules: [RequestRule] = []) {
        self.credentials = credentials
        self.requestRules = requestRules
    }

    /// The sandbox's view: each credential variable holds its placeholder.
    public var sandboxEnvironment: [String: String] {
        var environment: [String: String] = [:]
        for credential in credentials { environment[credential.rule.variable] = credential.placeholder }
        return environment
    }

    /// Variables the sandbox must never get from the host: every one a credential rule names, set or not, so a
    /// profile's unused alternative or a listing in `env` cannot carry a real value in.
    public var withheldVariables: Set<String> = []

    /// Whether connections to `host:port` are terminated at the gateway (a credential or request rule names it).
    public func intercepts(host: String, port: Int) -> Bool {
        credentials.contains { $0.rule.host == host && $0.rule.port == port }
            || requestRules.contains { $0.host == host && $0.port == port }
    }

    public func requestRules(host: String, port: Int) -> [RequestRule] {
        requestRules.filter { $0.host == host && $0.port == port }
    }

    /// The refusal for a connection to a host with request rules where the gateway would not read its requests:
    /// rules are checked only on intercepted HTTPS to the ports they name, so another port (`CONNECT host:80`,
    /// SSH on 22) or a plain http:// request (`plain`) would carry a denied request unread. Nil when allowed.
    public func unreadByRequestRules(_ target: NetworkTarget, plain: Bool) -> PolicyDecision? {
        guard case .name(let name) = target.host else { return nil }
        let ports = requestRules.filter { $0.host == name }.map(\.port)
        guard !ports.isEmpty, plain || !ports.contains(target.port) else { return nil }
        return .unreadByRequestRules(target, host: name, ports: ports, plain: plain)
    }

    /// A placeholder: recognisable, unique to the session (its id is in it), with no part of any secret. `tail` is
    /// stable per project and variable: Claude remembers an approved key by its last 20 characters, and would ask
    /// "use this API key?" at every start if they changed. A placeholder needs no secrecy — only this session's
    /// gateway ever substitutes it, and only toward its rule's host.
    public static func placeholder(session: SessionID, tail: String) -> String {
        "paddock-placeholder-\(session.rawValue)-\(tail)"
    }

    /// 32 hex characters from the project and the variable: the same in every session of that project.
    public static func stableTail(project: String, variable: String) -> String {
        String(Hashing.sha256Hex(Data("paddock placeholder\0\(project)\0\(variable)".utf8)).prefix(32))
    }

    public static let placeholderPrefix = "paddock-placeholder-"

    /// Reads every secret before the session starts. The user's rules must each find their value; the profile's
    /// are alternatives (an API key or an OAuth token): the first that is set is used, and none set means the
    /// agent logs in by itself, as without paddock. `readFile` returns a file's text, nil when it does not exist.
    public static func resolve(
        userRules: [CredentialRule], profileRules: [CredentialRule], requestRules: [RequestRule],
        environment: [String: String], home: String, session: SessionID,
        readFile: (String) throws -> String? = { try? String(contentsOfFile: $0, encoding: .utf8) },
        tail: (String) -> String = { _ in SessionSecrets.randomToken() }
    ) throws -> SessionSecrets {
        var placeholders: [String: String] = [:]
        var result = SessionSecrets(requestRules: requestRules)
        result.withheldVariables = Set((userRules + profileRules).map(\.variable))
        func add(_ rule: CredentialRule, _ value: String) throws {
            guard !value.isEmpty, value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else {
                throw PaddockError.invalidArgument(
                    "The secret for \(rule) is empty or holds a character no header may carry (a line break, a control or non-ASCII character). Fix where paddock reads it from."
                )
            }
            let placeholder = placeholders[rule.variable] ?? placeholder(session: session, tail: tail(rule.variable))
            placeholders[rule.variable] = placeholder
            result.credentials.append(
                ResolvedCredential(rule: rule, placeholder: placeholder, secret: SecretValue(value)))
        }
        func read(_ rule: CredentialRule) throws -> String? {
            guard let file = rule.file else { return environment[rule.variable] }
            let path = file == "~" || file.hasPrefix("~/") ? home + file.dropFirst() : file
            guard let text = try readFile(path) else { return nil }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        for rule in userRules {
            guard let value = try read(rule) else {
                let source =
                    rule.file.map { "the file \(SafeText.quoted($0)), which does not exist or cannot be read" }
                    ?? "the variable \(rule.variable), which is not set in your environment"
                throw PaddockError.invalidArgument(
                    "The credential rule \(rule) reads \(source). Set it, or remove the [[network.credentials]] rule; nothing was started."
                )
            }
            try add(rule, value)
        }
        // The profile's first variable that is set wins, with every rule that names it.
        let chosen = profileRules.first { rule in
            !result.credentials.contains { $0.rule.variable == rule.variable } && environment[rule.variable] != nil
        }?.variable
        for rule in profileRules where rule.variable == chosen {
            if let value = try read(rule) { try add(rule, value) }
        }
        return result
    }

    /// The session's secrets from the merged config and the agent's profile, read from the host's environment.
    public static func resolve(
        config: PaddockConfig, profile: AgentProfile, environment: [String: String], home: String, session: SessionID,
        project: String
    ) throws -> SessionSecrets {
        try resolve(
            userRules: config.network.credentials, profileRules: profile.credentialRules,
            requestRules: config.network.requests, environment: environment, home: home, session: session,
            tail: { stableTail(project: project, variable: $0) })
    }

    /// 128 random bits as hex.
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}

/// What the gateway does to one request's header fields on an intercepted connection.
public struct HeaderRewrite: Equatable, Sendable {
    /// Whether the placeholder in the rule's header was replaced by the secret.
    public var credentialAdded = false
    /// A placeholder was seen where it is not substituted (another header, the target, or another host's): a
    /// sign the agent tries to move it elsewhere.
    public var strayPlaceholder = false

    public init(credentialAdded: Bool = false, strayPlaceholder: Bool = false) {
        self.credentialAdded = credentialAdded
        self.strayPlaceholder = strayPlaceholder
    }
}

extension SessionSecrets {
    /// Replaces the placeholder by the secret only in the configured header of a rule for exactly `host:port` whose
    /// paths cover `target`, and only when that header's value is exactly the placeholder (with its scheme). Anything else is left as
    /// sent; a placeholder found elsewhere is reported.
    public func rewrite(host: String, port: Int, target: String, headers: inout [(name: String, value: String)])
        -> HeaderRewrite
    {
        var outcome = HeaderRewrite()
        let rules = credentials.filter {
            $0.rule.host == host && $0.rule.port == port && $0.rule.covers(target: target)
        }
        for index in headers.indices {
            let name = headers[index].name.lowercased()
            if let credential = rules.first(where: {
                $0.rule.headerName == name
                    && Self.equalsIgnoringSchemeCase(headers[index].value, $0.rule.headerValue($0.placeholder))
            }) {
                headers[index].value = credential.rule.headerValue(credential.secret.text)
                outcome.credentialAdded = true
            } else if headers[index].value.contains(Self.placeholderPrefix) {
                outcome.strayPlaceholder = true
            }
        }
        if target.contains(Self.placeholderPrefix) { outcome.strayPlaceholder = true }
        return outcome
    }

    /// Exact, except that the scheme word (`Bearer`, `token`) may be in any case, as HTTP allows.
    static func equalsIgnoringSchemeCase(_ value: String, _ expected: String) -> Bool {
        guard let space = expected.firstIndex(of: " ") else { return value == expected }
        guard let valueSpace = value.firstIndex(of: " ") else { return false }
        return value[..<valueSpace].lowercased() == expected[..<space].lowercased()
            && value[valueSpace...] == expected[space...]
    }
}
