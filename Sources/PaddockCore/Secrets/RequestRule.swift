import Foundation

/// `[[network.requests]]`: what an intercepted host may be asked, by method and path. A request is refused when a
/// `deny` pattern matches it, or when the rule has `allow` patterns and none matches.
public struct RequestRule: Hashable, Sendable {
    public var host: String
    public var port: Int
    public var allow: [RequestPattern]
    public var deny: [RequestPattern]

    public init(host: String, port: Int = 443, allow: [RequestPattern] = [], deny: [RequestPattern] = []) {
        self.host = host
        self.port = port
        self.allow = allow
        self.deny = deny
    }

    public static func parse(host: String, port: Int?, allow: [String], deny: [String]) throws(CredentialRuleError)
        -> RequestRule
    {
        // The same host check as a credential rule: one exact name.
        let checked = try CredentialRule.parse(
            host: host, port: port, header: "x-api-key", scheme: nil, variable: "X", file: nil)
        var patterns: [[RequestPattern]] = []
        for list in [allow, deny] {
            var parsed: [RequestPattern] = []
            for text in list {
                guard let pattern = RequestPattern(text) else {
                    throw CredentialRuleError(
                        "\"\(text)\" is no request pattern: write METHOD PATH, such as \"POST */git-receive-pack\" or \"GET /repos/*\" (* matches anything)"
                    )
                }
                parsed.append(pattern)
            }
            patterns.append(parsed)
        }
        guard !(patterns[0].isEmpty && patterns[1].isEmpty) else {
            throw CredentialRuleError("a [[network.requests]] rule needs `allow` or `deny` patterns")
        }
        return RequestRule(host: checked.host, port: checked.port, allow: patterns[0], deny: patterns[1])
    }
}

/// `METHOD PATH`: the method (or `*`) and a path glob where `*` matches any run of characters, `/` included.
/// Matching ignores case on both, so `POST /X/GIT-RECEIVE-PACK` meets `post */git-receive-pack`.
public struct RequestPattern: Hashable, Sendable, CustomStringConvertible {
    public var method: String
    public var path: String

    public init?(_ text: String) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard (1...2).contains(parts.count) else { return nil }
        let method = parts[0].uppercased()
        guard method == "*" || method.utf8.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            return nil
        }
        let path = parts.count == 2 ? String(parts[1]) : "*"
        guard path.hasPrefix("/") || path.hasPrefix("*") else { return nil }
        self.method = method
        self.path = path.lowercased()
    }

    public var description: String { "\(method) \(path)" }

    func matches(method candidate: String, path normalised: String) -> Bool {
        (method == "*" || method == candidate) && Self.glob(Array(path.utf8)[...], Array(normalised.utf8)[...])
    }

    /// `*` is any run of bytes; everything else literal. Iterative, so no pattern can make it exponential.
    public static func glob(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        var p = pattern.startIndex
        var t = text.startIndex
        var star: Int?
        var resume = t
        while t < text.endIndex {
            if p < pattern.endIndex, pattern[p] == UInt8(ascii: "*") {
                star = p
                p += 1
                resume = t
            } else if p < pattern.endIndex, pattern[p] == text[t] {
                p += 1
                t += 1
            } else if let star {
                p = star + 1
                resume += 1
                t = resume
            } else {
                return false
            }
        }
        while p < pattern.endIndex, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.endIndex
    }
}

/// What the gateway decides for one request to a host with request rules.
public enum RequestVerdict: Equatable, Sendable {
    case allow
    case deny(rule: String)
    /// The path cannot be read one way only (malformed or doubly encoded): refused, since an origin might read it
    /// another way than the rules did.
    case invalid(String)
}

public enum RequestCheck {
    /// Headers through which common frameworks let a POST act as another method.
    public static let methodOverrideHeaders = ["x-http-method-override", "x-http-method", "x-method-override"]

    /// The verdict for `method target` with `headers` (names in any case) under the rules for its host. Every
    /// method the origin might act on — the request's, and any override header's or `_method` parameter's — must
    /// pass.
    public static func decide(method: String, target: String, headers: [(String, String)], rules: [RequestRule])
        -> RequestVerdict
    {
        guard !rules.isEmpty else { return .allow }
        guard let path = RequestPath.normalise(target) else {
            return .invalid(
                "the request path \(SafeText.quoted(String(target.prefix(200)))) is malformed (a `#`, a bad `%`) or encoded more than once"
            )
        }
        // An allow list says what may be asked: the origin must read exactly that, not a path the folding made.
        if rules.contains(where: { !$0.allow.isEmpty }), RequestPath.exact(target) == nil {
            return .invalid(
                "the request path \(SafeText.quoted(String(target.prefix(200)))) reads differently once `..`, `;`, backslashes, `//` or `%`-escapes are applied; send it in its plain form \(path)"
            )
        }
        var methods = [method.uppercased()]
        for (name, value) in headers where methodOverrideHeaders.contains(name.lowercased()) {
            methods.append(value.trimmingCharacters(in: .whitespaces).uppercased())
        }
        methods += RequestPath.methodParameters(target).map { $0.uppercased() }
        for rule in rules {
            for candidate in methods {
                if let hit = rule.deny.first(where: { $0.matches(method: candidate, path: path) }) {
                    return .deny(rule: "deny \"\(hit)\" on \(rule.host)")
                }
                if !rule.allow.isEmpty, !rule.allow.contains(where: { $0.matches(method: candidate, path: path) }) {
                    return .deny(rule: "no allow pattern on \(rule.host) matches \(candidate) \(path)")
                }
            }
        }
        return .allow
    }
}

/// The one reading of a request path that rules are matched against, chosen to be at least as wide as any origin's:
/// query dropped (a `#` is refused), percent-encoding decoded once (`%2F` is a slash), `\` read as `/`, `;params` dropped
/// from each segment, empty and `.` segments dropped, `..` applied, a trailing slash dropped, lowercase.
public enum RequestPath {
    public static func normalise(_ target: String) -> String? {
        var raw = Substring(target)
        // A request target has no fragment: an origin might read `#` and what follows as the path.
        guard !raw.contains("#") else { return nil }
        if let end = raw.firstIndex(of: "?") { raw = raw[..<end] }
        guard raw.hasPrefix("/") else { return nil }
        guard let decoded = percentDecoded(raw) else { return nil }
        // Decoded once; a `%` followed by hex digits now would decode again at an origin that decodes twice.
        if percentDecoded(Substring(decoded)) != decoded { return nil }
        var segments: [Substring] = []
        for var segment in decoded.replacingOccurrences(of: "\\", with: "/").split(separator: "/") {
            if let semicolon = segment.firstIndex(of: ";") { segment = segment[..<semicolon] }
            switch segment {
            case "", ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(segment)
            }
        }
        return ("/" + segments.joined(separator: "/")).lowercased()
    }

    /// The normalised path only when it is the target's own path, lower-cased: nothing was decoded, dropped or
    /// folded, so any origin reads the same path. What an allow list (or a credential's `paths`) matches.
    public static func exact(_ target: String) -> String? {
        guard let path = normalise(target) else { return nil }
        let raw = target.prefix { $0 != "?" }.lowercased()
        return path == raw ? path : nil
    }

    /// `_method` values in the query, which some frameworks take as the method.
    static func methodParameters(_ target: String) -> [String] {
        guard let start = target.firstIndex(of: "?") else { return [] }
        let query = target[target.index(after: start)...].prefix { $0 != "#" }
        return query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, percentDecoded(parts[0])?.lowercased() == "_method" else { return nil }
            return percentDecoded(parts[1])
        }
    }

    /// Nil for a `%` without two hex digits, or bytes that are no UTF-8 or hold a control character.
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var index = text.utf8.startIndex
        let utf8 = text.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "%") {
                let high = utf8.index(after: index)
                guard high < utf8.endIndex, let h = hexValue(utf8[high]) else { return nil }
                let low = utf8.index(after: high)
                guard low < utf8.endIndex, let l = hexValue(utf8[low]) else { return nil }
                bytes.append(h << 4 | l)
                index = utf8.index(after: low)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }),
            let decoded = String(validating: bytes, as: UTF8.self)
        else { return nil }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
