/// Named host sets for `[network] presets`. Each is a list of rule strings, parsed like the user's own rules.
public enum NetworkPresets {
    public static let builtIn: [String: [String]] = [
        "github": [
            "github.com", "*.github.com", "github.com:22", "ssh.github.com:443",
            "*.githubusercontent.com", "*.githubassets.com", "ghcr.io",
        ],
        "gitlab": ["gitlab.com", "*.gitlab.com", "gitlab.com:22", "registry.gitlab.com"],
        "npm": ["registry.npmjs.org", "registry.yarnpkg.com"],
        "pypi": ["pypi.org", "files.pythonhosted.org"],
        "crates": ["crates.io", "index.crates.io", "static.crates.io", "static.rust-lang.org"],
        "go": ["proxy.golang.org", "sum.golang.org", "storage.googleapis.com"],
        "rubygems": ["rubygems.org", "index.rubygems.org"],
        "debian": ["deb.debian.org", "security.debian.org"],
        "anthropic": [
            "api.anthropic.com", "console.anthropic.com", "statsig.anthropic.com", "claude.ai", "platform.claude.com",
        ],
        "openai": ["api.openai.com", "auth.openai.com", "chatgpt.com"],
        "gemini": [
            "generativelanguage.googleapis.com", "cloudcode-pa.googleapis.com", "oauth2.googleapis.com",
            "accounts.google.com",
        ],
    ]

    public static var names: [String] { builtIn.keys.sorted() }

    /// The rules of preset `name`, or nil when there is no such preset. `npm` and `pypi` follow the registry the
    /// user's own client is configured for, when `clients` carries that configuration.
    public static func rules(for name: String, clients: PackageClientConfig = PackageClientConfig()) -> [String]? {
        switch name {
        case "npm":
            if let hosts = clients.npmRegistryHosts(), !hosts.isEmpty { return hosts }
        case "pypi":
            if let hosts = clients.pipIndexHosts(), !hosts.isEmpty { return hosts }
        default:
            break
        }
        return builtIn[name]
    }
}

/// The text of package clients' configuration files, read by the launcher (this type does no I/O), so that a
/// preset can follow a company mirror instead of the public index.
public struct PackageClientConfig: Equatable, Sendable {
    /// Contents of `~/.npmrc`.
    public var npmrc: String?
    /// Contents of `pip.conf` (`$XDG_CONFIG_HOME/pip/pip.conf` or `~/.pip/pip.conf`).
    public var pipConf: String?

    public init(npmrc: String? = nil, pipConf: String? = nil) {
        self.npmrc = npmrc
        self.pipConf = pipConf
    }

    /// Hosts of `registry=` and `@scope:registry=` lines.
    func npmRegistryHosts() -> [String]? {
        guard let npmrc else { return nil }
        return Self.urlHosts(in: npmrc) { key in key == "registry" || key.hasSuffix(":registry") }
    }

    /// Hosts of `index-url` and `extra-index-url`.
    func pipIndexHosts() -> [String]? {
        guard let pipConf else { return nil }
        return Self.urlHosts(in: pipConf) { key in
            key == "index-url" || key == "extra-index-url" || key == "index_url" || key == "extra_index_url"
        }
    }

    /// `KEY = URL` lines whose key passes `wanted`, reduced to `HOST` or `HOST:PORT` rule strings. Credentials in the
    /// URL are dropped; IP-address registries are left to an explicit CIDR rule.
    private static func urlHosts(in text: String, wanted: (String) -> Bool) -> [String] {
        var result: [String] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let trimmed = String(line).trimmingASCIIWhitespace()
            guard !trimmed.hasPrefix("#"), !trimmed.hasPrefix(";"), let equals = trimmed.firstIndex(of: "=") else {
                continue
            }
            let key = String(trimmed[..<equals]).trimmingASCIIWhitespace().lowercased()
            guard wanted(key) else { continue }
            // extra-index-url may list several URLs separated by white space.
            let values = trimmed[trimmed.index(after: equals)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            for value in values {
                if let rule = ruleForURL(String(value)), !result.contains(rule) { result.append(rule) }
            }
        }
        return result
    }

    static func ruleForURL(_ url: String) -> String? {
        let lower = url.lowercased()
        let defaultPort: Int
        let rest: Substring
        if lower.hasPrefix("https://") {
            defaultPort = 443
            rest = url.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            defaultPort = 80
            rest = url.dropFirst(7)
        } else {
            return nil
        }
        var authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        guard let target = try? NetworkTarget(authority: String(authority), defaultPort: defaultPort),
            case .name(let name) = target.host
        else { return nil }
        return NetworkRule.defaultPorts.contains(target.port) ? name : "\(name):\(target.port)"
    }
}
