/// A CIDR block such as `10.20.0.0/16` or `fd00::/8`.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The first address of the block (host bits are cleared when parsing).
    public let address: IPAddress
    public let prefixLength: Int

    public init?(address: IPAddress, prefixLength: Int) {
        let width = address.isV4 ? 32 : 128
        guard (0...width).contains(prefixLength) else { return nil }
        self.address = IPNetwork.masked(address, prefixLength)
        self.prefixLength = prefixLength
    }

    /// `ADDRESS/PREFIX`, or a bare address meaning a single host. Host bits that are set are refused: `10.0.0.1/8` is
    /// more likely a typo than a wish, and a silent widening would be worse.
    public init?(_ text: String) {
        let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count <= 2, let address = IPNetwork.parseStrictAddress(String(pieces[0])) else { return nil }
        let width = address.isV4 ? 32 : 128
        var length = width
        if pieces.count == 2 {
            let digits = pieces[1]
            guard !digits.isEmpty, digits.count <= 3, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int(digits), value <= width
            else { return nil }
            length = value
        }
        guard IPNetwork.masked(address, length) == address else { return nil }
        self.address = address
        self.prefixLength = length
    }

    public func contains(_ other: IPAddress) -> Bool {
        switch (address, other) {
        case (.v4, .v4), (.v6, .v6):
            return IPNetwork.masked(other, prefixLength) == address
        default:
            return false
        }
    }

    /// Whether every address of `other` is also in `self`.
    public func contains(_ other: IPNetwork) -> Bool {
        other.prefixLength >= prefixLength && contains(other.address)
    }

    public var description: String { "\(address)/\(prefixLength)" }

    /// Rules are written by people: dotted-quad IPv4 only, so `0177.1/32` cannot sneak in as a rule.
    private static func parseStrictAddress(_ text: String) -> IPAddress? {
        if text.contains(":") { return IPAddress.parseIPv6(text) }
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        for octet in octets {
            guard !octet.isEmpty, octet.count <= 3, octet.allSatisfy({ $0.isASCII && $0.isNumber }),
                octet.count == 1 || octet.first != "0", let value = Int(octet), value <= 255
            else { return nil }
        }
        return IPAddress(text)
    }

    static func masked(_ address: IPAddress, _ prefixLength: Int) -> IPAddress {
        switch address {
        case .v4(let value):
            let mask: UInt32 = prefixLength == 0 ? 0 : ~UInt32(0) << UInt32(32 - prefixLength)
            return .v4(value & mask)
        case .v6(let high, let low):
            let highMask: UInt64 =
                prefixLength >= 64 ? ~0 : (prefixLength == 0 ? 0 : ~UInt64(0) << UInt64(64 - prefixLength))
            let lowBits = max(0, prefixLength - 64)
            let lowMask: UInt64 = lowBits == 0 ? 0 : (lowBits >= 64 ? ~0 : ~UInt64(0) << UInt64(64 - lowBits))
            return .v6(high: high & highMask, low: low & lowMask)
        }
    }
}

/// Address ranges that must never be reached just because a name resolved into them: the sandbox host's own
/// loopback, the local networks, the cloud metadata service. Only a CIDR rule that names such a range (or a part of
/// it) lets a connection through.
public enum RestrictedAddresses {
    public struct Range: Sendable, Equatable {
        public let network: IPNetwork
        public let name: String
    }

    /// Ranges checked in order; the first match names the reason.
    public static let ranges: [Range] = [
        ("0.0.0.0/8", "unspecified (\"this network\")"),
        ("127.0.0.0/8", "loopback"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("169.254.0.0/16", "link-local (cloud metadata lives here)"),
        ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fc00::/7", "unique local (IPv6 private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
        ("100::/64", "discard-only"),
        ("2001:db8::/32", "documentation"),
        ("2001::/32", "Teredo tunnel"),
    ].compactMap { text, name in IPNetwork(text).map { Range(network: $0, name: name) } }

    /// The restricted range `address` falls in, or nil for an ordinary public address. IPv6 forms that carry an IPv4
    /// address (`::ffff:127.0.0.1`, `::127.0.0.1`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by that address.
    public static func range(containing address: IPAddress) -> Range? {
        if let embedded = embeddedIPv4(address) {
            return range(containing: embedded)
        }
        return ranges.first { $0.network.contains(address) }
    }

    /// The IPv4 address carried inside an IPv6 address, for the transition forms a kernel or gateway would route to it.
    public static func embeddedIPv4(_ address: IPAddress) -> IPAddress? {
        guard case .v6(let high, let low) = address else { return nil }
        if let mapped = address.ipv4Mapped { return mapped }
        // IPv4-compatible (deprecated) ::a.b.c.d, but not :: and ::1 themselves.
        if high == 0, low >> 32 == 0, low > 1 { return .v4(UInt32(truncatingIfNeeded: low)) }
        // NAT64 well-known prefix 64:ff9b::/96.
        if high == 0x0064_FF9B_0000_0000, low >> 32 == 0 { return .v4(UInt32(truncatingIfNeeded: low)) }
        // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
        if high >> 48 == 0x2002 { return .v4(UInt32(truncatingIfNeeded: high >> 16)) }
        return nil
    }
}
