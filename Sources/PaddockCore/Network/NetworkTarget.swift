/// A host as the gateway judges it: a canonical DNS name, or an IP address however it was spelled.
public enum NetworkHost: Hashable, Sendable, CustomStringConvertible {
    /// Lower-case ASCII, no trailing dot.
    case name(String)
    case ip(IPAddress)

    /// Canonicalises a host as it arrives from a client (CONNECT authority without the port, a SOCKS domain, a URI).
    /// IPv6 literals may come with or without brackets.
    public init(parsing raw: String) throws(TargetError) {
        guard !raw.isEmpty else { throw .emptyHost }
        try NetworkHost.rejectUnsafeCharacters(raw)
        // Byte-level checks: `String.contains(String)` goes through Foundation's search on every connection.
        if raw.hasPrefix("[") || raw.utf8.contains(UInt8(ascii: ":")) {
            var inner = Substring(raw)
            if raw.hasPrefix("[") {
                guard raw.hasSuffix("]"), raw.count > 2 else { throw .malformedIPv6(raw) }
                inner = inner.dropFirst().dropLast()
            }
            if inner.utf8.contains(UInt8(ascii: "%")) { throw .forbiddenCharacter("%") }
            guard let address = IPAddress.parseIPv6(String(inner)) else { throw .malformedIPv6(raw) }
            self = .ip(address)
            return
        }
        var name = raw.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        guard !name.isEmpty else { throw .emptyHost }
        switch IPAddress.parseIPv4(name) {
        case .address(let address):
            self = .ip(address)
            return
        case .invalid:
            throw .malformedIPv4(raw)
        case .notNumeric:
            break
        }
        guard name.utf8.count <= 253 else { throw .nameTooLong }
        for label in name.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { throw .emptyLabel(raw) }
            guard label.utf8.count <= 63 else { throw .labelTooLong(String(label)) }
            // Only ASCII is left here (rejectUnsafeCharacters), and after lowercasing letters are a-z.
            if let bad = label.utf8.first(where: { !Self.isLabelByte($0) }) {
                throw .forbiddenCharacter(String(UnicodeScalar(bad)))
            }
            if label.hasPrefix("-") || label.hasSuffix("-") { throw .hyphenAtLabelEdge(String(label)) }
        }
        self = .name(name)
    }

    /// Control characters, spaces, non-ASCII and userinfo, checked on the raw text before any splitting, so that a
    /// header injected after a colon is reported as what it is.
    static func rejectUnsafeCharacters(_ raw: String) throws(TargetError) {
        if raw.utf8.contains(where: { $0 >= 0x80 }), let bad = raw.unicodeScalars.first(where: { !$0.isASCII }) {
            throw .nonASCII(String(bad))
        }
        if let bad = raw.utf8.first(where: { $0 < 0x21 || $0 == 0x7F }) {
            throw bad == UInt8(ascii: " ") ? .forbiddenCharacter(" ") : .controlCharacter(UInt32(bad))
        }
        if raw.utf8.contains(UInt8(ascii: "@")) { throw .userinfo }
    }

    /// What a canonical label is made of: lower-case ASCII letters, digits, `-` and `_`.
    static func isLabelByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"),
            UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    /// How the host is written in a rule, a log line or a `paddock allow` hint.
    public var description: String {
        switch self {
        case .name(let name): return name
        case .ip(let address): return address.description
        }
    }

    /// As it appears in an authority: IPv6 in brackets.
    public var authorityForm: String {
        if case .ip(.v6) = self { return "[\(description)]" }
        return description
    }
}

/// Where a client asked to go.
public struct NetworkTarget: Hashable, Sendable, CustomStringConvertible {
    public var host: NetworkHost
    public var port: Int

    public init(host: NetworkHost, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT`, `[IPV6]:PORT`, or with `defaultPort` also a bare `HOST` / `[IPV6]`. CONNECT passes no
    /// default: a missing port is an error there, never a silent 443.
    public init(authority: String, defaultPort: Int? = nil) throws(TargetError) {
        if let plain = Self.plainAuthority(Array(authority.utf8)) {
            self = plain
        } else {
            self = try Self.parseFully(authority, defaultPort: defaultPort)
        }
    }

    /// Every form the gateway accepts, with the reason when it refuses one.
    static func parseFully(_ authority: String, defaultPort: Int?) throws(TargetError) -> NetworkTarget {
        // Before splitting: in `user:pass@host:443` the colon of the password must not look like IPv6.
        try NetworkHost.rejectUnsafeCharacters(authority)
        let hostPart: Substring
        var portPart: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw .malformedIPv6(authority) }
            hostPart = authority[...close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { throw .malformedAuthority(authority) }
                portPart = rest.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            // An unbracketed IPv6 literal has more colons; `split(":")` on it is the classic proxy bug.
            if hostPart.utf8.contains(UInt8(ascii: ":")) { throw .unbracketedIPv6(authority) }
            portPart = authority[authority.index(after: colon)...]
        } else {
            hostPart = Substring(authority)
        }
        let port: Int
        if let portPart {
            port = try NetworkTarget.parsePort(portPart)
        } else if let defaultPort {
            port = defaultPort
        } else {
            throw .missingPort(authority)
        }
        return NetworkTarget(host: try NetworkHost(parsing: String(hostPart)), port: port)
    }

    /// The common case read from bytes: `name:port` with a lower-case name that needs no canonicalising, or
    /// `a.b.c.d:port` in plain decimal. Nil for anything else (upper case, a trailing dot, IPv6, other IPv4 spellings,
    /// bad ports, …), which takes the full path above; where both apply they agree (the canonicalisation table
    /// runs through both).
    static func plainAuthority(_ bytes: [UInt8]) -> NetworkTarget? {
        guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")), colon > 0 else { return nil }
        let portBytes = bytes[(colon + 1)...]
        guard (1...5).contains(portBytes.count), portBytes.allSatisfy({ (48...57).contains($0) }) else { return nil }
        let port = portBytes.reduce(0) { $0 * 10 + Int($1 - 48) }
        guard (1...65535).contains(port) else { return nil }
        let host = bytes[..<colon]
        guard host.count <= 253 else { return nil }
        var labels: [ArraySlice<UInt8>] = []
        var start = host.startIndex
        for index in host.indices where host[index] == UInt8(ascii: ".") {
            labels.append(host[start..<index])
            start = index + 1
        }
        labels.append(host[start...])
        for label in labels {
            guard (1...63).contains(label.count), let first = label.first, let last = label.last,
                first != UInt8(ascii: "-"), last != UInt8(ascii: "-"),
                label.allSatisfy({ NetworkHost.isLabelByte($0) })
            else { return nil }
        }
        guard let last = labels.last else { return nil }
        let isDigit: (UInt8) -> Bool = { (48...57).contains($0) }
        if last.allSatisfy(isDigit) {
            // Numeric: only the plain dotted quad here (no leading zeros, which would be octal).
            guard labels.count == 4 else { return nil }
            var value: UInt32 = 0
            for label in labels {
                guard label.count <= 3, label.allSatisfy(isDigit), label.count == 1 || label.first != 48 else {
                    return nil
                }
                let octet = label.reduce(0) { $0 * 10 + Int($1 - 48) }
                guard octet <= 255 else { return nil }
                value = value << 8 | UInt32(octet)
            }
            return NetworkTarget(host: .ip(.v4(value)), port: port)
        }
        // `0x…` as the last label is an IPv4 attempt in hexadecimal: the full path decides.
        if last.count >= 2, last[last.startIndex] == 48, last[last.startIndex + 1] == UInt8(ascii: "x") { return nil }
        return NetworkTarget(host: .name(String(decoding: host, as: UTF8.self)), port: port)
    }

    /// 1 to 65535, decimal digits only.
    public static func parsePort(_ text: Substring) throws(TargetError) -> Int {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text),
            (1...65535).contains(value)
        else { throw .badPort(String(text)) }
        return value
    }

    public var description: String { "\(host.authorityForm):\(port)" }
}

/// Why a target could not be read. Each message names the offending part.
public enum TargetError: Error, Equatable, Sendable, CustomStringConvertible {
    case emptyHost
    case emptyLabel(String)
    case labelTooLong(String)
    case nameTooLong
    case nonASCII(String)
    case controlCharacter(UInt32)
    case forbiddenCharacter(String)
    case hyphenAtLabelEdge(String)
    case userinfo
    case malformedIPv4(String)
    case malformedIPv6(String)
    case unbracketedIPv6(String)
    case malformedAuthority(String)
    case missingPort(String)
    case badPort(String)

    public var description: String {
        switch self {
        case .emptyHost: return "the host is empty"
        case .emptyLabel(let host): return "\(host.debugDescription) has an empty label"
        case .labelTooLong(let label): return "the label \(label.debugDescription) is longer than 63 characters"
        case .nameTooLong: return "the host name is longer than 253 characters"
        case .nonASCII(let character):
            return "the host contains \(character.debugDescription); write internationalised names in punycode (xn--…)"
        case .controlCharacter(let value):
            return "the host contains the control character 0x\(String(value, radix: 16))"
        case .forbiddenCharacter(let character):
            return "the host contains the forbidden character \(character.debugDescription)"
        case .hyphenAtLabelEdge(let label): return "the label \(label.debugDescription) starts or ends with a hyphen"
        case .userinfo: return "user names and passwords in the target (`user@host`) are not accepted"
        case .malformedIPv4(let host):
            return "\(host.debugDescription) looks like an IPv4 address but is not a valid one"
        case .malformedIPv6(let host): return "\(host.debugDescription) is not a valid bracketed IPv6 address"
        case .unbracketedIPv6(let authority):
            return "\(authority.debugDescription): write IPv6 addresses in brackets, as [ADDRESS]:PORT"
        case .malformedAuthority(let authority): return "\(authority.debugDescription) is not HOST:PORT"
        case .missingPort(let authority): return "\(authority.debugDescription) has no port; write HOST:PORT"
        case .badPort(let port): return "\(port.debugDescription) is not a port between 1 and 65535"
        }
    }
}
