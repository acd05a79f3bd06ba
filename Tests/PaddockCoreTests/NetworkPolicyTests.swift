import Foundation
import PaddockCore
import Testing

@Suite("Network policy decisions")
struct NetworkPolicyTests {
    func policy(
        presets: [String] = [], allow: [String] = [], deny: [String] = [], hosts: [String: String] = [:],
        offline: Bool? = nil, agent: [String] = []
    ) throws -> NetworkPolicy {
        try NetworkPolicy(
            config: NetworkConfig(presets: presets, allow: allow, deny: deny, hosts: hosts, offline: offline),
            agentHosts: agent)
    }

    func target(_ text: String) throws -> NetworkTarget { try NetworkTarget(authority: text) }

    @Test func defaultIsDenyWithTheExactAllowCommand() throws {
        let policy = try policy()
        let decision = policy.decide(try target("example.com:443"))
        #expect(!decision.isAllowed)
        #expect(decision.basis == .noMatchingRule)
        #expect(decision.hint == "paddock allow example.com")
        #expect(decision.ruleDescription == "default")
        #expect(policy.decide(try target("example.com:22")).hint == "paddock allow example.com:22")
        #expect(policy.decide(try target("[2001:db8::1]:22")).hint == "paddock allow [2001:db8::1/128]:22")
    }

    @Test func allowNamesTheRuleAndItsSource() throws {
        let policy = try policy(presets: ["github"], allow: ["example.com"], agent: ["api.anthropic.com"])
        let github = policy.decide(try target("api.github.com:443"))
        #expect(github.isAllowed)
        #expect(github.rule == (try NetworkRule(parsing: "*.github.com")))
        #expect(github.source == .preset("github"))
        #expect(github.ruleDescription == "*.github.com (preset github)")
        #expect(policy.decide(try target("api.anthropic.com:443")).source == .agent)
        #expect(policy.decide(try target("example.com:80")).source == .allowList)
        #expect(policy.decide(try target("github.com:22")).isAllowed)
        #expect(!policy.decide(try target("example.com:22")).isAllowed)
        #expect(!policy.decide(try target("www.example.com:443")).isAllowed)
    }

    @Test func denyWinsOverAllowOnEveryPort() throws {
        let policy = try policy(presets: ["github"], deny: ["gist.github.com"])
        let decision = policy.decide(try target("gist.github.com:443"))
        #expect(!decision.isAllowed)
        #expect(decision.source == .denyList)
        #expect(decision.hint == nil)
        #expect(decision.reason.contains("remove that rule"))
        // A deny without a port covers every port, not just 80 and 443.
        let sshPolicy = try self.policy(allow: ["*.example.com:*"], deny: ["git.example.com"])
        #expect(!sshPolicy.decide(try target("git.example.com:22")).isAllowed)
        #expect(sshPolicy.decide(try target("www.example.com:22")).isAllowed)
    }

    @Test func ipLiteralsNeedACIDRRule() throws {
        let none = try policy(allow: ["example.com"])
        #expect(!none.decide(try target("93.184.215.14:443")).isAllowed)
        #expect(none.decide(try target("93.184.215.14:443")).hint == "paddock allow 93.184.215.14/32")
        let cidr = try policy(allow: ["93.184.0.0/16"])
        #expect(cidr.decide(try target("93.184.215.14:443")).isAllowed)
        #expect(!cidr.decide(try target("93.184.215.14:5432")).isAllowed)
    }

    @Test(
        "numeric spellings of the metadata address are all the same refusal",
        arguments: [
            "169.254.169.254:80", "2852039166:80", "0xA9FEA9FE:80", "0251.0376.0251.0376:80", "169.254.43518:80",
            "[::ffff:169.254.169.254]:80", "[::ffff:a9fe:a9fe]:80",
        ])
    func metadataAddressIsRefusedInEverySpelling(_ text: String) throws {
        // Even a rule that allows the whole IPv4 and IPv6 space does not name the link-local range explicitly.
        let policy = try policy(allow: ["0.0.0.0/0:*", "::/0:*"])
        let decision = policy.decide(try target(text))
        #expect(!decision.isAllowed)
        #expect(decision.basis == .restrictedAddress)
        #expect(decision.reason.contains("link-local"))
    }

    @Test func restrictedRangesAfterResolution() throws {
        let policy = try policy(allow: ["allowed.test"])
        let name = try target("allowed.test:443")
        #expect(policy.decide(name).isAllowed)
        for address in [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1",
            "0.0.0.0", "224.0.0.1", "255.255.255.255", "240.0.0.1", "::1", "::", "fd12::1", "fe80::1", "ff02::1",
            "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::127.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1",
        ] {
            let decision = policy.decide(name, resolvedTo: IPAddress(address)!)
            #expect(!decision.isAllowed, "\(address) should be refused")
            #expect(decision.basis == .restrictedAddress, "\(address)")
            #expect(
                decision.hint
                    == "paddock allow \(address.contains(":") ? IPAddress(address)!.description + "/128" : address + "/32")"
            )
        }
        for address in ["93.184.215.14", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:93.184.215.14"] {
            #expect(policy.decide(name, resolvedTo: IPAddress(address)!).isAllowed, "\(address) should pass")
        }
    }

    @Test func anExplicitCIDRRuleOpensARestrictedAddress() throws {
        let policy = try policy(allow: ["origin.test:*", "127.0.0.1/32", "10.20.0.0/16:5432"])
        let origin = try target("origin.test:8080")
        #expect(policy.decide(origin, resolvedTo: IPAddress("127.0.0.1")!).isAllowed)
        // The exemption is for the named block only.
        #expect(!policy.decide(origin, resolvedTo: IPAddress("127.0.0.2")!).isAllowed)
        #expect(!policy.decide(origin, resolvedTo: IPAddress("::1")!).isAllowed)
        // A port-limited CIDR opens its port only.
        #expect(policy.decide(try target("origin.test:5432"), resolvedTo: IPAddress("10.20.1.1")!).isAllowed)
        #expect(!policy.decide(origin, resolvedTo: IPAddress("10.20.1.1")!).isAllowed)
    }

    @Test func hostsOverrideDoesNotWeakenThePrivateRangeRule() throws {
        let withoutCIDR = try policy(allow: ["origin.test:*"], hosts: ["Origin.Test.": "127.0.0.1"])
        let origin = try target("origin.test:8080")
        let address = try #require(withoutCIDR.override(for: origin.host))
        #expect(address == IPAddress("127.0.0.1"))
        #expect(!withoutCIDR.decide(origin, resolvedTo: address).isAllowed)
        let check = try withoutCIDR.check("origin.test:8080")
        #expect(check.override == address)
        #expect(!check.decision.isAllowed)
        #expect(check.decision.hint == "paddock allow 127.0.0.1/32")

        let withCIDR = try policy(allow: ["origin.test:*", "127.0.0.1/32"], hosts: ["origin.test": "127.0.0.1"])
        #expect(try withCIDR.check("origin.test:8080").decision.isAllowed)
        // The override does not make a name allowed either.
        let other = try policy(allow: ["127.0.0.1/32"], hosts: ["other.test": "127.0.0.1"])
        #expect(!(try other.check("other.test:443").decision.isAllowed))
    }

    @Test func denyCIDRAppliesToResolvedAddresses() throws {
        let policy = try policy(allow: ["cdn.test"], deny: ["203.0.113.0/24", "198.51.100.7"])
        let cdn = try target("cdn.test:443")
        let decision = policy.decide(cdn, resolvedTo: IPAddress("203.0.113.9")!)
        #expect(!decision.isAllowed)
        #expect(decision.source == .denyList)
        #expect(decision.basis == .rule)
    }

    @Test func offlineDeniesEverything() throws {
        let policy = try policy(presets: ["github"], allow: ["0.0.0.0/0:*"], offline: true)
        let decision = policy.decide(try target("github.com:443"))
        #expect(!decision.isAllowed)
        #expect(decision.basis == .offline)
        #expect(decision.ruleDescription == "offline")
        #expect(!NetworkPolicy.offline.decide(try target("1.1.1.1:443")).isAllowed)
    }

    @Test func configErrorsSayWhere() {
        #expect(throws: PolicyError.unknownPreset("gitbub")) { try policy(presets: ["gitbub"]) }
        #expect(throws: PolicyError.self) { try policy(allow: ["*.com"]) }
        #expect(throws: PolicyError.self) { try policy(deny: ["exa mple.com"]) }
        #expect(throws: PolicyError.self) { try policy(agent: ["*"]) }
        #expect(throws: PolicyError.self) { try policy(hosts: ["origin.test": "localhost"]) }
        #expect(throws: PolicyError.self) { try policy(hosts: ["origin.test": "0x7f.1"]) }
        #expect(throws: PolicyError.self) { try policy(hosts: ["10.0.0.1": "127.0.0.1"]) }
        do {
            _ = try policy(allow: ["ok.example", "*.co.uk"])
            Issue.record("expected an error")
        } catch {
            #expect(String(describing: error).contains("allow list"))
            #expect(String(describing: error).contains("*.co.uk"))
        }
    }

    @Test func checkUsesPort443WhenNoneIsGiven() throws {
        let policy = try policy(allow: ["example.com:443"])
        #expect(try policy.check("example.com").decision.isAllowed)
        #expect(try policy.check("example.com").target.port == 443)
        #expect(!(try policy.check("example.com:80").decision.isAllowed))
        #expect(throws: TargetError.self) { try policy.check("exa mple.com") }
        #expect(try policy.check("example.com").description.contains("allowed"))
    }

    @Test func recordsAreOneLineOfValidJSON() throws {
        let record = ConnectionRecord(
            time: ConnectionRecord.timestamp(epochNanoseconds: 1_763_702_400_123_000_000), protocol: "connect",
            host: "evil\"\n\u{1}\u{7F}\t.tëst", port: 443, decision: .deny, rule: "default", reason: "a \\ reason",
            resolved: nil, bytesUp: 12, bytesDown: 34, durationMs: 1.2346, error: nil)
        let line = record.jsonLine()
        #expect(!line.contains("\n"))
        #expect(record.time == "2025-11-21T05:20:00.123Z")
        var decoded = try JSONDecoder().decode(ConnectionRecord.self, from: Data(line.utf8))
        #expect(decoded.durationMs == 1.235)
        decoded.durationMs = record.durationMs
        #expect(decoded == record)
    }

    @Test func timestampsAcrossEras() {
        #expect(ConnectionRecord.timestamp(epochNanoseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(ConnectionRecord.timestamp(epochNanoseconds: 951_782_400_000_000_000) == "2000-02-29T00:00:00.000Z")
        #expect(ConnectionRecord.timestamp(epochNanoseconds: -1_000_000) == "1969-12-31T23:59:59.999Z")
    }

    @Test func summaryCountsAndRanksDeniedHosts() {
        func record(_ host: String, _ port: Int, _ decision: ConnectionRecord.Decision) -> ConnectionRecord {
            ConnectionRecord(time: "", protocol: "connect", host: host, port: port, decision: decision, rule: "default")
        }
        let summary = ConnectionSummary([
            record("github.com", 443, .allow), record("evil.test", 443, .deny), record("evil.test", 80, .deny),
            record("evil.test", 22, .deny), record("a.test", 443, .deny), record("?", 0, .invalid),
        ])
        #expect(summary.allowed == 1)
        #expect(summary.denied == 4)
        #expect(summary.invalid == 1)
        #expect(summary.topDenied().map(\.host) == ["evil.test", "a.test", "evil.test:22"])
        #expect(
            summary.line
                == "network: 1 allowed, 4 denied, 1 invalid (top denied: evil.test ×2, a.test ×1, evil.test:22 ×1)")
    }
}
