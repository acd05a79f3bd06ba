/// One `allow` or `deny` entry: an exact name, `*.domain` (subdomains only), or a CIDR block, with optional ports.
public struct NetworkRule: Hashable, Sendable, CustomStringConvertible {
    public enum Pattern: Hashable, Sendable {
        /// Exactly this canonical name.
        case exact(String)
        /// Any name strictly below this one (`*.example.org` matches `a.example.org`, never `example.org`).
        case subdomains(of: String)
        /// IP literals and resolved addresses inside this block.
        case network(IPNetwork)
    }

    public enum Ports: Hashable, Sendable {
        /// No port written: an allow rule means 80 and 443, a deny rule means every port.
        case unspecified
        /// `:*`.
        case any
        case only(Int)
    }

    /// The ports an allow rule without a port opens.
    public static let defaultPorts: Set<Int> = [80, 443]

    public let pattern: Pattern
    public let ports: Ports

    public init(pattern: Pattern, ports: Ports = .unspecified) {
        self.pattern = pattern
        self.ports = ports
    }

    /// Parses `example.com`, `*.example.org`, `github.com:22`, `host:*`, `10.20.0.0/16`, `10.20.0.0/16:5432`,
    /// `fd00::/8`, `[fd00::/8]:443`, `192.0.2.7`, `[2001:db8::1]:8080`.
    public init(parsing raw: String) throws(RuleError) {
        let text = raw.trimmingASCIIWhitespace()
        guard !text.isEmpty else { throw .empty }
        var hostPart: Substring
        var portPart: Substring?
        let bracketed = text.hasPrefix("[")
        if bracketed {
            guard let close = text.firstIndex(of: "]") else { throw .invalid(text, "missing `]`") }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { throw .invalid(text, "expected `:PORT` after `]`") }
                portPart = rest.dropFirst()
            }
        } else if let slash = text.firstIndex(of: "/") {
            // CIDR: a port can only follow the prefix length.
            if let colon = text[slash...].firstIndex(of: ":") {
                hostPart = text[..<colon]
                portPart = text[text.index(after: colon)...]
            } else {
                hostPart = Substring(text)
            }
        } else if text.filter({ $0 == ":" }).count >= 2 {
            hostPart = Substring(text)  // a bare IPv6 address
        } else if let colon = text.lastIndex(of: ":") {
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        } else {
            hostPart = Substring(text)
        }

        if let portPart {
            if portPart == "*" {
                ports = .any
            } else {
                do {
                    ports = .only(try NetworkTarget.parsePort(portPart))
                } catch {
                    throw .invalid(text, error.description)
                }
            }
        } else {
            ports = .unspecified
        }

        if bracketed || hostPart.contains("/") || hostPart.contains(":") || IPNetwork(String(hostPart)) != nil {
            guard let network = IPNetwork(String(hostPart)) else {
                throw .invalid(
                    text, "not a valid address or CIDR block (write IPv4 as a.b.c.d, host bits of the block cleared)")
            }
            pattern = .network(network)
            return
        }
        if hostPart.hasPrefix("*.") {
            let base = String(hostPart.dropFirst(2))
            if base.contains("*") { throw .invalid(text, "only one leading `*.` is allowed") }
            let host: NetworkHost
            do {
                host = try NetworkHost(parsing: base)
            } catch {
                throw .invalid(text, error.description)
            }
            guard case .name(let name) = host else {
                throw .invalid(text, "a wildcard cannot cover an IP address; use a CIDR block such as 10.0.0.0/8")
            }
            guard !PublicSuffixes.isPublicSuffix(name) else {
                throw .invalid(text, "`*.\(name)` would allow every site registered under a public suffix")
            }
            pattern = .subdomains(of: name)
            return
        }
        if hostPart.contains("*") {
            throw .invalid(text, "`*` is only allowed as a whole leading label, as in `*.example.com`")
        }
        let host: NetworkHost
        do {
            host = try NetworkHost(parsing: String(hostPart))
        } catch {
            throw .invalid(text, error.description)
        }
        switch host {
        case .name(let name):
            pattern = .exact(name)
        case .ip:
            // A numeric spelling other than dotted decimal (`0x7f.1`, `2130706433`) reached here.
            throw .invalid(text, "write IPv4 addresses as a.b.c.d (or a CIDR block such as 10.0.0.0/8)")
        }
    }

    /// Whether this rule's pattern covers `host` (ports not considered). Network patterns match IP literals only.
    public func matches(_ host: NetworkHost) -> Bool {
        switch (pattern, host) {
        case (.exact(let name), .name(let candidate)):
            return name == candidate
        case (.subdomains(let base), .name(let candidate)):
            return candidate.count > base.count && candidate.hasSuffix("." + base)
        case (.network(let network), .ip(let address)):
            return network.contains(address)
        default:
            return false
        }
    }

    /// Whether `port` is covered, reading an unwritten port as `unspecified` says for this kind of list.
    public func matches(port: Int, unspecifiedMeansAny: Bool) -> Bool {
        switch ports {
        case .unspecified: return unspecifiedMeansAny || NetworkRule.defaultPorts.contains(port)
        case .any: return true
        case .only(let only): return only == port
        }
    }

    /// The canonical spelling, as `paddock policy show` prints it.
    public var description: String {
        let host: String
        switch pattern {
        case .exact(let name): host = name
        case .subdomains(let base): host = "*.\(base)"
        case .network(let network):
            let isSingle = network.prefixLength == (network.address.isV4 ? 32 : 128)
            let text = isSingle ? network.address.description : network.description
            switch ports {
            case .unspecified: return text
            case .any, .only: host = network.address.isV4 ? text : "[\(text)]"
            }
        }
        switch ports {
        case .unspecified: return host
        case .any: return "\(host):*"
        case .only(let port): return "\(host):\(port)"
        }
    }
}

public enum RuleError: Error, Equatable, Sendable, CustomStringConvertible {
    case empty
    case invalid(String, String)

    public var description: String {
        switch self {
        case .empty: return "an empty rule"
        case .invalid(let rule, let reason): return "\(rule.debugDescription): \(reason)"
        }
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
