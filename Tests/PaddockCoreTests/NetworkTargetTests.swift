import Testing

@testable import PaddockCore

/// What a client's target becomes before any rule sees it. Every row is a way to say a host; the tricky ones are
/// the ways an attacker would try to say a forbidden host so that a naive matcher misses it.
@Suite("Network target canonicalisation")
struct NetworkTargetTests {
    enum Expected: Sendable, CustomStringConvertible {
        case host(String, Int)
        case ip(String, Int)
        case error(TargetError)

        var description: String {
            switch self {
            case .host(let host, let port): return "name \(host):\(port)"
            case .ip(let ip, let port): return "ip \(ip):\(port)"
            case .error(let error): return "error \(error)"
            }
        }
    }

    static let authorityCases: [(String, Expected)] = [
        // Names: case, trailing dot, ports.
        ("example.com:443", .host("example.com", 443)),
        ("EXAMPLE.com:443", .host("example.com", 443)),
        ("Example.COM.:443", .host("example.com", 443)),
        ("api.github.com:22", .host("api.github.com", 22)),
        ("xn--bcher-kva.example:443", .host("xn--bcher-kva.example", 443)),
        ("under_score.example.com:80", .host("under_score.example.com", 80)),
        ("localhost:8080", .host("localhost", 8080)),
        ("a.b.c.d.e.example.org:1", .host("a.b.c.d.e.example.org", 1)),
        ("example.com:65535", .host("example.com", 65535)),
        // Only one trailing dot is stripped; an empty label is refused.
        ("example.com..:443", .error(.emptyLabel("example.com.."))),
        ("a..example.com:443", .error(.emptyLabel("a..example.com"))),
        (".example.com:443", .error(.emptyLabel(".example.com"))),
        (".:443", .error(.emptyHost)),
        // Ports: missing, zero, too large, signed, non-decimal.
        ("example.com", .error(.missingPort("example.com"))),
        ("example.com:", .error(.badPort(""))),
        ("example.com:0", .error(.badPort("0"))),
        ("example.com:65536", .error(.badPort("65536"))),
        ("example.com:+443", .error(.badPort("+443"))),
        ("example.com:-1", .error(.badPort("-1"))),
        ("example.com:0x1bb", .error(.badPort("0x1bb"))),
        ("example.com:443 ", .error(.forbiddenCharacter(" "))),
        ("example.com:4431111", .error(.badPort("4431111"))),
        // Characters that must never reach a matcher or a resolver.
        ("exa mple.com:443", .error(.forbiddenCharacter(" "))),
        ("example.com\u{0}.evil.test:443", .error(.controlCharacter(0))),
        ("example.com\r\nX-Injected: 1:443", .error(.controlCharacter(0x0D))),
        ("example.com\t:443", .error(.controlCharacter(0x09))),
        ("user@example.com:443", .error(.userinfo)),
        ("user:pass@example.com:443", .error(.userinfo)),
        ("allowed.test@evil.test:443", .error(.userinfo)),
        ("bücher.example:443", .error(.nonASCII("ü"))),
        ("exаmple.com:443", .error(.nonASCII("а"))),  // Cyrillic a
        ("exa%6dple.com:443", .error(.forbiddenCharacter("%"))),
        ("*.example.com:443", .error(.forbiddenCharacter("*"))),
        ("exa/mple.com:443", .error(.forbiddenCharacter("/"))),
        ("-leading.example.com:443", .error(.hyphenAtLabelEdge("-leading"))),
        ("", .error(.missingPort(""))),
        (":443", .error(.emptyHost)),
        // IPv4 in every numeric spelling.
        ("127.0.0.1:80", .ip("127.0.0.1", 80)),
        ("2852039166:80", .ip("169.254.169.254", 80)),
        ("0xA9FEA9FE:80", .ip("169.254.169.254", 80)),
        ("0xa9.0xfe.0xa9.0xfe:80", .ip("169.254.169.254", 80)),
        ("127.1:80", .ip("127.0.0.1", 80)),
        ("127.0.1:80", .ip("127.0.0.1", 80)),
        ("0177.0.0.1:80", .ip("127.0.0.1", 80)),
        ("0177.1:80", .ip("127.0.0.1", 80)),
        ("017700000001:80", .ip("127.0.0.1", 80)),
        ("0x7f000001:80", .ip("127.0.0.1", 80)),
        ("0:80", .ip("0.0.0.0", 80)),
        ("0x:80", .ip("0.0.0.0", 80)),
        ("10.0.0.1.:80", .ip("10.0.0.1", 80)),
        ("169.254.169.254:80", .ip("169.254.169.254", 80)),
        ("1.2.3.4.5:80", .error(.malformedIPv4("1.2.3.4.5"))),
        ("256.0.0.1:80", .error(.malformedIPv4("256.0.0.1"))),
        ("1.2.3.256:80", .error(.malformedIPv4("1.2.3.256"))),
        ("4294967296:80", .error(.malformedIPv4("4294967296"))),
        ("08.0.0.1:80", .error(.malformedIPv4("08.0.0.1"))),
        ("example.123:80", .error(.malformedIPv4("example.123"))),
        ("example.0x1:80", .error(.malformedIPv4("example.0x1"))),
        // A label that is numeric but not last is just part of a name.
        ("123.example.com:80", .host("123.example.com", 80)),
        // IPv6: brackets, compression, embedded IPv4, zones.
        ("[::1]:443", .ip("::1", 443)),
        ("[0:0:0:0:0:0:0:1]:443", .ip("::1", 443)),
        ("[2001:DB8::1]:8443", .ip("2001:db8::1", 8443)),
        ("[::ffff:127.0.0.1]:80", .ip("::ffff:7f00:1", 80)),
        ("[::ffff:7f00:1]:80", .ip("::ffff:7f00:1", 80)),
        ("[fe80::1%eth0]:80", .error(.forbiddenCharacter("%"))),
        ("[fe80::1%25eth0]:80", .error(.forbiddenCharacter("%"))),
        ("::1:443", .error(.unbracketedIPv6("::1:443"))),
        ("2001:db8::1:443", .error(.unbracketedIPv6("2001:db8::1:443"))),
        ("[::1]", .error(.missingPort("[::1]"))),
        ("[::1]443", .error(.malformedAuthority("[::1]443"))),
        ("[1::2::3]:443", .error(.malformedIPv6("[1::2::3]"))),
        ("[12345::]:443", .error(.malformedIPv6("[12345::]"))),
        ("[example.com]:443", .error(.malformedIPv6("[example.com]"))),
        ("[::1:443", .error(.malformedIPv6("[::1:443"))),
        ("[]:443", .error(.malformedIPv6("[]"))),
    ]

    @Test("authority canonicalisation", arguments: authorityCases)
    func authority(_ input: String, _ expected: Expected) {
        let result = Result { () throws(TargetError) in try NetworkTarget(authority: input) }
        switch (result, expected) {
        case (.success(let target), .host(let name, let port)):
            #expect(target == NetworkTarget(host: .name(name), port: port))
        case (.success(let target), .ip(let text, let port)):
            #expect(target.host == .ip(IPAddress(text)!))
            #expect(target.port == port)
            #expect(target.host.description == text)
        case (.failure(let error), .error(let wanted)):
            #expect(error == wanted)
        default:
            Issue.record("\(input.debugDescription): got \(result), expected \(expected)")
        }
    }

    /// The byte-level fast path either declines or agrees with the full parser, for every row and for the edges
    /// of what it takes.
    @Test(
        "fast path agrees with the full parser",
        arguments: authorityCases.map(\.0) + [
            "a.b:1", "0.0.0.0:80", "255.255.255.255:65535", "256.1.1.1:80", "01.2.3.4:80", "1.2.3:80", "1.2.3.4.5:80",
            "x_y.test:443", "-a.test:443", "a-.test:443", "example.0x1f:443", "example.0x:443", "example.123:80",
            "EXAMPLE.com:443", "example.com.:443", "a..b:443", ":443", "a.test:0", "a.test:65536", "a.test:00443",
            "1.2.3.04:80", "1.2.3.4:443", String(repeating: "a", count: 64) + ".test:443",
            (0..<60).map { _ in "abcd" }.joined(separator: ".") + ":443",
        ])
    func fastPathAgrees(_ input: String) {
        guard let fast = NetworkTarget.plainAuthority(Array(input.utf8)) else { return }
        let full = Result { () throws(TargetError) in try NetworkTarget.parseFully(input, defaultPort: nil) }
        #expect(full == .success(fast), "\(input)")
    }

    @Test func fastPathTakesTheCommonCases() {
        #expect(NetworkTarget.plainAuthority(Array("api.anthropic.com:443".utf8)) != nil)
        #expect(
            NetworkTarget.plainAuthority(Array("127.0.0.1:28080".utf8))
                == NetworkTarget(host: .ip(.v4(0x7F00_0001)), port: 28080))
    }

    @Test func tableIsLargeEnough() {
        #expect(Self.authorityCases.count >= 40)
    }

    @Test func defaultPortOnlyWhenGiven() throws {
        #expect(try NetworkTarget(authority: "example.com", defaultPort: 80).port == 80)
        #expect(
            try NetworkTarget(authority: "[::1]", defaultPort: 80)
                == NetworkTarget(host: .ip(.v6(high: 0, low: 1)), port: 80))
        #expect(throws: TargetError.missingPort("example.com")) { try NetworkTarget(authority: "example.com") }
    }

    @Test func hostAloneAcceptsBareIPv6ForSOCKS() throws {
        #expect(try NetworkHost(parsing: "::1") == .ip(.v6(high: 0, low: 1)))
        #expect(try NetworkHost(parsing: "[::1]") == .ip(.v6(high: 0, low: 1)))
        #expect(throws: TargetError.nameTooLong) {
            try NetworkHost(parsing: Array(repeating: "abcdefghij", count: 26).joined(separator: "."))
        }
        #expect(throws: TargetError.labelTooLong(String(repeating: "a", count: 64))) {
            try NetworkHost(parsing: String(repeating: "a", count: 64) + ".com")
        }
    }

    @Test func ipv6FormattingFollowsRFC5952() {
        #expect(IPAddress("2001:0db8:0000:0000:0000:0000:0000:0001")?.description == "2001:db8::1")
        #expect(IPAddress("2001:db8:0:1:0:0:0:1")?.description == "2001:db8:0:1::1")
        #expect(IPAddress("1:0:0:2:0:0:0:3")?.description == "1:0:0:2::3")
        #expect(IPAddress("1:2:3:4:5:6:7:8")?.description == "1:2:3:4:5:6:7:8")
        #expect(IPAddress("::")?.description == "::")
        #expect(IPAddress("1:0:2:3:4:5:6:7")?.description == "1:0:2:3:4:5:6:7")
        #expect(IPAddress(":::") == nil)
        #expect(IPAddress("1:2:3:4:5:6:7:8:9") == nil)
        #expect(IPAddress("::1.2.3.4")?.bytes == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])
        #expect(IPAddress("::1.2.3.04") == nil)
    }

    @Test func bytesRoundTrip() throws {
        for text in ["0.0.0.0", "255.255.255.255", "10.20.30.40", "::", "2001:db8::ff00:42:8329", "fe80::1"] {
            let address = try #require(IPAddress(text))
            #expect(IPAddress(bytes: address.bytes) == address)
            #expect(address.description == text)
        }
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }
}
