@testable import PaddockCore

/// Target canonicalisation: the text a client puts in a CONNECT, a SOCKS domain or an absolute URI, and the rules a
/// user writes. Whatever is accepted must be canonical and read back as itself, and the byte-level fast path must
/// agree with the full parser wherever it answers.
enum TargetFuzz {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)

        let plain = NetworkTarget.plainAuthority(Array(text.utf8))
        let full = try? NetworkTarget.parseFully(text, defaultPort: nil)
        if let plain {
            invariant(
                plain == full,
                "fast path read \(text.debugDescription) as \(plain), full parser as \(String(describing: full))")
        }
        for defaultPort in [nil, 80] {
            if let target = try? NetworkTarget(authority: text, defaultPort: defaultPort) {
                check(target, from: text)
            }
        }
        if let host = try? NetworkHost(parsing: text) {
            checkCanonical(host, from: text)
        }
        if let address = IPAddress(text) {
            invariant(IPAddress(address.description) == address, "\(address) does not read back from its text")
            invariant(IPAddress(bytes: address.bytes) == address, "\(address) does not read back from its bytes")
        }
        _ = IPAddress.parseIPv6(text)
        if let network = IPNetwork(text) {
            invariant(IPNetwork(network.description) == network, "CIDR \(network) does not read back")
            invariant(network.contains(network.address), "CIDR \(network) does not contain its own address")
        }
        if let rule = try? NetworkRule(parsing: text) {
            invariant(
                (try? NetworkRule(parsing: rule.description)) == rule,
                "rule \(text.debugDescription) prints as \(rule.description.debugDescription), which reads differently")
            if let target = full ?? plain {
                _ = rule.matches(target.host)
            }
        }
    }

    static func check(_ target: NetworkTarget, from text: String) {
        invariant((1...65535).contains(target.port), "\(text.debugDescription) gave port \(target.port)")
        checkCanonical(target.host, from: text)
        invariant(
            (try? NetworkTarget(authority: target.description)) == target,
            "\(text.debugDescription) became \(target), which does not read back as itself")
    }

    /// A name is lower-case labels of letters, digits, `-` and `_` and never a number in disguise; an address
    /// prints in the form that reads back as the same address.
    static func checkCanonical(_ host: NetworkHost, from text: String) {
        switch host {
        case .name(let name):
            invariant(
                !name.isEmpty && name.utf8.count <= 253,
                "\(text.debugDescription) gave the name \(name.debugDescription)")
            invariant(
                name.utf8.allSatisfy { NetworkHost.isLabelByte($0) || $0 == UInt8(ascii: ".") },
                "\(text.debugDescription) gave the non-canonical name \(name.debugDescription)")
            invariant(
                name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy {
                    !$0.isEmpty && $0.utf8.count <= 63
                },
                "\(text.debugDescription) gave a name with an empty or long label: \(name.debugDescription)")
            invariant(
                IPAddress.parseIPv4(name) == .notNumeric,
                "\(text.debugDescription) gave the name \(name.debugDescription), which is an IPv4 spelling")
        case .ip(let address):
            invariant(
                (try? NetworkHost(parsing: address.description)) == host,
                "\(text.debugDescription) gave \(address), which does not read back")
        }
    }
}
