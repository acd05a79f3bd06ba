import Foundation

/// The per-session secret the gateway's loopback listener wants (relay transport): any local process, and any
/// container on the engine's network, can reach that port, so only a client that knows this session's secret
/// gets an answer there. It travels as HTTP `Proxy-Authorization: Basic` and as SOCKS5 username/password
/// (RFC 1929), which is what curl, git and the other clients do with `http://user:secret@…` proxy URLs.
public struct ProxyCredential: Equatable, Sendable {
    public var user: String
    public var secret: String

    public init(user: String = "paddock", secret: String) {
        self.user = user
        self.secret = secret
    }

    /// 32 random bytes as hex: URL-safe, so the proxy variables need no escaping.
    public static func random() -> ProxyCredential {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return ProxyCredential(secret: bytes.map { String(format: "%02x", $0) }.joined())
    }

    /// `user:secret`, as RFC 7617 and socat's `proxyauth` write it.
    public var userInfo: String { user + ":" + secret }

    /// The token after `Basic ` in `Proxy-Authorization`.
    public var basicToken: String { Data(userInfo.utf8).base64EncodedString() }

    /// Whether a `Proxy-Authorization` value carries this credential. Compared in constant time over the decoded
    /// bytes, so a wrong guess learns nothing from how long the answer took.
    public func accepts(authorization value: Substring) -> Bool {
        let parts = value.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "basic",
            let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces))
        else { return false }
        return Self.constantTimeEqual(Array(decoded), Array(userInfo.utf8))
    }

    /// RFC 1929's username and password fields.
    public func accepts(user: [UInt8], password: [UInt8]) -> Bool {
        // Both compared even when the first differs: no early exit to time.
        let userMatches = Self.constantTimeEqual(user, Array(self.user.utf8))
        let secretMatches = Self.constantTimeEqual(password, Array(secret.utf8))
        return userMatches && secretMatches
    }

    static func constantTimeEqual(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        var difference = UInt8(lhs.count == rhs.count ? 0 : 1)
        for index in 0..<max(lhs.count, rhs.count) {
            let left = index < lhs.count ? lhs[index] : 0
            let right = index < rhs.count ? rhs[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }
}
