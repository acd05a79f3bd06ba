import PaddockCore
import Testing

@Suite("Network rules")
struct NetworkRuleTests {
    static let valid: [(String, String)] = [
        ("example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("  example.com  ", "example.com"),
        ("*.example.org", "*.example.org"),
        ("*.Example.org:8443", "*.example.org:8443"),
        ("github.com:22", "github.com:22"),
        ("origin.test:*", "origin.test:*"),
        ("10.20.0.0/16", "10.20.0.0/16"),
        ("10.20.0.0/16:5432", "10.20.0.0/16:5432"),
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1/32", "127.0.0.1"),
        ("192.0.2.7:8080", "192.0.2.7:8080"),
        ("fd00::/8", "fd00::/8"),
        ("[fd00::/8]:443", "[fd00::/8]:443"),
        ("[2001:DB8::1]:8080", "[2001:db8::1]:8080"),
        ("::1", "::1"),
        ("*.example.co.uk", "*.example.co.uk"),
        ("*.github.io", "*.github.io"),
    ]

    @Test("valid rules parse to their canonical form", arguments: valid)
    func parses(_ text: String, _ canonical: String) throws {
        let rule = try NetworkRule(parsing: text)
        #expect(rule.description == canonical)
        // The canonical form reads back as the same rule.
        #expect(try NetworkRule(parsing: rule.description) == rule)
    }

    static let invalid: [String] = [
        "", "   ", "*", "*.", "*.com", "*.co.uk", "*.org.", "*.COM", "**.example.com", "*.*.example.com",
        "foo.*.example.com", "exa*mple.com", "*example.com", "*.10.0.0.1", "*.[::1]", "example.com:0",
        "example.com:70000", "example.com:http", "10.0.0.1/33", "10.0.0.1/8", "10.0.0.0/-1", "10.0.0.0/",
        "0x7f.1", "2130706433", "0177.0.0.1", "example.123", "user@example.com", "exa mple.com", "[example.com]:80",
        "[fd00::/8]443", "fd00::/129", "bücher.example", "[::1",
    ]

    @Test("invalid rules are refused with a reason", arguments: invalid)
    func refuses(_ text: String) {
        #expect(throws: RuleError.self) { try NetworkRule(parsing: text) }
    }

    @Test func wildcardMatchesSubdomainsOnly() throws {
        let rule = try NetworkRule(parsing: "*.example.org")
        #expect(rule.matches(.name("a.example.org")))
        #expect(rule.matches(.name("a.b.example.org")))
        #expect(!rule.matches(.name("example.org")))
        #expect(!rule.matches(.name("badexample.org")))
        #expect(!rule.matches(.name("example.org.evil.test")))
        #expect(!rule.matches(.ip(IPAddress("10.0.0.1")!)))
    }

    @Test func exactMatchesOnlyThatName() throws {
        let rule = try NetworkRule(parsing: "example.com")
        #expect(rule.matches(.name("example.com")))
        #expect(!rule.matches(.name("www.example.com")))
        #expect(!rule.matches(.name("example.com.evil.test")))
    }

    @Test func cidrMatchesAddressesOnly() throws {
        let rule = try NetworkRule(parsing: "10.20.0.0/16")
        #expect(rule.matches(.ip(IPAddress("10.20.255.1")!)))
        #expect(!rule.matches(.ip(IPAddress("10.21.0.1")!)))
        #expect(!rule.matches(.ip(IPAddress("::ffff:10.20.0.1")!)))
        #expect(!rule.matches(.name("10.20.0.1.nip.io")))
        let v6 = try NetworkRule(parsing: "fd00::/8")
        #expect(v6.matches(.ip(IPAddress("fdab::1")!)))
        #expect(!v6.matches(.ip(IPAddress("fe80::1")!)))
    }

    @Test func portsDependOnTheList() throws {
        let plain = try NetworkRule(parsing: "example.com")
        #expect(plain.matches(port: 443, unspecifiedMeansAny: false))
        #expect(plain.matches(port: 80, unspecifiedMeansAny: false))
        #expect(!plain.matches(port: 22, unspecifiedMeansAny: false))
        #expect(plain.matches(port: 22, unspecifiedMeansAny: true))
        let ssh = try NetworkRule(parsing: "github.com:22")
        #expect(ssh.matches(port: 22, unspecifiedMeansAny: false))
        #expect(!ssh.matches(port: 443, unspecifiedMeansAny: true))
        let any = try NetworkRule(parsing: "origin.test:*")
        #expect(any.matches(port: 12345, unspecifiedMeansAny: false))
    }

    @Test func publicSuffixMessageSaysWhy() {
        #expect(
            throws: RuleError.invalid("*.co.uk", "`*.co.uk` would allow every site registered under a public suffix")
        ) {
            try NetworkRule(parsing: "*.co.uk")
        }
    }

    @Test func everyPresetParses() throws {
        for name in NetworkPresets.names {
            let rules = try #require(NetworkPresets.rules(for: name))
            #expect(!rules.isEmpty)
            for text in rules { _ = try NetworkRule(parsing: text) }
        }
    }

    @Test func presetsFollowTheUsersClientConfiguration() {
        let clients = PackageClientConfig(
            npmrc: """
                ; company mirror
                registry=https://npm.corp.example/
                @acme:registry = https://token:secret@npm.acme.example:8443/api/
                //npm.corp.example/:_authToken=abc
                """,
            pipConf: """
                [global]
                index-url = https://pypi.corp.example/simple
                extra-index-url = http://extra.example/simple https://10.0.0.5/simple
                """)
        #expect(NetworkPresets.rules(for: "npm", clients: clients) == ["npm.corp.example", "npm.acme.example:8443"])
        #expect(NetworkPresets.rules(for: "pypi", clients: clients) == ["pypi.corp.example", "extra.example"])
        #expect(NetworkPresets.rules(for: "npm") == ["registry.npmjs.org", "registry.yarnpkg.com"])
        #expect(
            NetworkPresets.rules(for: "pypi", clients: PackageClientConfig(pipConf: "[global]\n")) == [
                "pypi.org", "files.pythonhosted.org",
            ])
        #expect(NetworkPresets.rules(for: "no-such-preset") == nil)
    }
}
