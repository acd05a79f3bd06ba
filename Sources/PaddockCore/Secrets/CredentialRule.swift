/// `[[network.credentials]]`: the gateway adds a secret to requests for one exact host, so the sandbox only ever
/// holds a placeholder. The launcher reads the real value from its own environment (`env`) or a file (`file`).
public struct CredentialRule: Hashable, Sendable, CustomStringConvertible {
    /// The request header the secret goes into.
    public enum Header: Hashable, Sendable {
        /// `x-api-key: SECRET`
        case apiKey
        /// `authorization: SCHEME SECRET`, the scheme being `Bearer` or `token`.
        case authorization(scheme: String)
    }

    /// Exact, lowercase name: never a wildcard, which could span owners.
    public var host: String
    public var port: Int
    public var header: Header
    /// The variable that holds the placeholder inside the sandbox, and the real value in the host's environment
    /// unless `file` names where it is.
    public var variable: String
    /// A host file holding the secret (as written; `~` is expanded when the session starts).
    public var file: String?
    /// Lowercase path globs (`*` any run, as in request rules) where the secret is added; empty is every path. A
    /// token is good for more than the agent needs (Claude's OAuth token mints API keys on
    /// `/api/oauth/claude_cli/create_api_key`, a GitHub token adds deploy keys): elsewhere the placeholder goes on.
    public var paths: [String]

    public static let schemes = ["Bearer", "token"]

    public init(
        host: String, port: Int = 443, header: Header, variable: String, file: String? = nil, paths: [String] = []
    ) {
        self.host = host
        self.port = port
        self.header = header
        self.variable = variable
        self.file = file
        self.paths = paths.map { $0.lowercased() }
    }

    /// Whether the secret may go on a request for `target`: only a path every origin reads the same way (no `..`,
    /// `;`, `%`-escape or `#` that a folding would read as another) can be covered.
    public func covers(target: String) -> Bool {
        guard !paths.isEmpty else { return true }
        guard let path = RequestPath.exact(target) else { return false }
        return paths.contains { RequestPattern.glob(Array($0.utf8)[...], Array(path.utf8)[...]) }
    }

    /// Checks and builds a rule from what a config file says; the message names what to fix.
    public static func parse(
        host: String, port: Int?, header: String, scheme: String?, variable: String, file: String?,
        paths: [String] = []
    ) throws(CredentialRuleError) -> CredentialRule {
        for path in paths where !path.hasPrefix("/") {
            throw CredentialRuleError("`paths` holds path globs starting with /, such as \"/v1/*\", not \"\(path)\"")
        }
        let name = host.lowercased()
        guard let target = try? NetworkTarget(authority: name, defaultPort: port ?? 443), case .name = target.host,
            target.description == "\(name):\(port ?? 443)"
        else {
            throw CredentialRuleError(
                "`host` must be one exact host name such as \"api.github.com\", not \"\(host)\" (no wildcard, no address, the port goes in `port`)"
            )
        }
        guard let port = Optional(port ?? 443), (1...65535).contains(port) else {
            throw CredentialRuleError("`port` must be between 1 and 65535")
        }
        guard EnvironmentName.isValid(variable) else {
            throw CredentialRuleError("`env` must be an environment variable name, not \"\(variable)\"")
        }
        let parsedHeader: Header
        switch header.lowercased() {
        case "x-api-key":
            guard scheme == nil else {
                throw CredentialRuleError("`scheme` goes only with header = \"authorization\"")
            }
            parsedHeader = .apiKey
        case "authorization":
            guard let scheme, let known = schemes.first(where: { $0.lowercased() == scheme.lowercased() }) else {
                throw CredentialRuleError("header = \"authorization\" needs `scheme` = \"Bearer\" or \"token\"")
            }
            parsedHeader = .authorization(scheme: known)
        default:
            throw CredentialRuleError("`header` must be \"x-api-key\" or \"authorization\", not \"\(header)\"")
        }
        return CredentialRule(
            host: name, port: port, header: parsedHeader, variable: variable, file: file, paths: paths)
    }

    /// Lowercase header name.
    public var headerName: String {
        switch header {
        case .apiKey: return "x-api-key"
        case .authorization: return "authorization"
        }
    }

    /// The header's whole value for a given credential text (the placeholder or the secret).
    public func headerValue(_ credential: String) -> String {
        switch header {
        case .apiKey: return credential
        case .authorization(let scheme): return scheme + " " + credential
        }
    }

    public var description: String {
        "\(variable) → \(headerName) on \(host):\(port)" + (paths.isEmpty ? "" : " \(paths.joined(separator: ", "))")
    }
}

public struct CredentialRuleError: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
