import Foundation
import PaddockCore
import Testing

@Suite("Credential and request rules, placeholders, secret resolution")
struct SecretsTests {
    static let session = SessionID("20261201-221000-00ab")!

    // MARK: request rules, as a table

    /// Each row: method, target, extra headers, whether `deny = ["POST */git-receive-pack"]` lets it through.
    static let pushRows: [(String, String, [(String, String)], Bool)] = [
        ("GET", "/o/r.git/info/refs?service=git-upload-pack", [], true),
        ("POST", "/o/r.git/git-upload-pack", [], true),
        ("POST", "/o/r.git/git-receive-pack", [], false),
        // Bypasses an origin might read as the denied path.
        ("post", "/o/r.git/git-receive-pack", [], false),
        ("POST", "/o/r.git/GIT-RECEIVE-PACK", [], false),
        ("POST", "//o//r.git//git-receive-pack", [], false),
        ("POST", "/o/r.git%2Fgit-receive-pack", [], false),
        ("POST", "/o/r.git%2fgit-receive-pack", [], false),
        ("POST", "/o/r.git/git%2Dreceive%2Dpack", [], false),
        ("POST", "/o/r.git/x/../git-receive-pack", [], false),
        ("POST", "/o/r.git/./git-receive-pack", [], false),
        ("POST", "/o/r.git/%2E%2E/r.git/git-receive-pack", [], false),
        ("POST", "/o/r.git\\git-receive-pack", [], false),
        ("POST", "/o/r.git/git-receive-pack;x=1", [], false),
        ("POST", "/o/r.git/git-receive-pack/", [], false),
        ("POST", "/o/r.git/git-receive-pack#frag", [], false),
        ("GET", "/o/r.git/git-receive-pack", [("X-HTTP-Method-Override", "POST")], false),
        ("GET", "/o/r.git/git-receive-pack", [("x-http-method", " post ")], false),
        ("GET", "/o/r.git/git-receive-pack", [("X-Method-Override", "POST")], false),
        ("GET", "/o/r.git/git-receive-pack?_method=POST", [], false),
        ("GET", "/o/r.git/git-receive-pack?%5Fmethod=post", [], false),
        // Encoded twice, or malformed: an origin might decode it again, so it is refused.
        ("POST", "/o/r.git%252Fgit-receive-pack", [], false),
        ("GET", "/o/%zz", [], false),
        ("GET", "/o/%00", [], false),
        ("GET", "https://github.com/o/r.git/git-receive-pack", [], false),
        ("GET", "*", [], false),
    ]

    @Test func denyPatternsSurviveEveryPathTrick() throws {
        let rule = try RequestRule.parse(host: "github.com", port: nil, allow: [], deny: ["POST */git-receive-pack"])
        for (method, target, headers, allowed) in Self.pushRows {
            let verdict = RequestCheck.decide(method: method, target: target, headers: headers, rules: [rule])
            #expect((verdict == .allow) == allowed, "\(method) \(target) \(headers): \(verdict)")
        }
    }

    @Test func allowListsRefuseWhatTheyDoNotName() throws {
        let rule = try RequestRule.parse(
            host: "api.github.com", port: nil, allow: ["GET /repos/*", "HEAD *"], deny: [])
        let rows: [(String, String, Bool)] = [
            ("GET", "/repos/o/r", true), ("HEAD", "/anything", true), ("GET", "/user", false),
            ("POST", "/repos/o/r/issues", false), ("GET", "/repos/../user", false), ("GET", "/REPOS/o/r", true),
        ]
        for (method, target, allowed) in rows {
            let verdict = RequestCheck.decide(method: method, target: target, headers: [], rules: [rule])
            #expect((verdict == .allow) == allowed, "\(method) \(target): \(verdict)")
        }
        #expect(RequestCheck.decide(method: "DELETE", target: "/x", headers: [], rules: []) == .allow)
    }

    /// Attack: the rules read a path another way than the origin may. `#` in a target is no fragment to an origin
    /// that reads it literally, and for an allow list (or a credential's `paths`) `..;`, `\\`, `%2F` folding lets a
    /// path the origin reads under `/admin` be matched as an allowed one. Such targets are refused: what was
    /// allowed is what the origin reads.
    @Test func targetsAnOriginMayReadOtherwiseAreRefused() throws {
        let push = try RequestRule.parse(host: "github.com", port: nil, allow: [], deny: ["POST */git-receive-pack"])
        for target in ["/a#/../o/r.git/git-receive-pack", "/o/r.git/git-upload-pack?x=#/../../git-receive-pack"] {
            let verdict = RequestCheck.decide(method: "POST", target: target, headers: [], rules: [push])
            #expect(verdict != .allow, "\(target): \(verdict)")
        }
        let allow = try RequestRule.parse(host: "api.github.com", port: nil, allow: ["GET /repos/*"], deny: [])
        for (target, allowed) in [
            ("/admin/..;/repos/o/r", false), ("/admin/x/../../repos/o/r", false), ("/admin%2F..%2Frepos/o/r", false),
            ("/admin\\..\\repos/o/r", false), ("/repos/o/r;x=1", false), ("//repos/o/r", false),
            ("/repos/o/r#x", false), ("/Repos/o/r?page=2", true), ("/repos/o/r", true),
        ] {
            let verdict = RequestCheck.decide(method: "GET", target: target, headers: [], rules: [allow])
            #expect((verdict == .allow) == allowed, "\(target): \(verdict)")
        }

        let secrets = try SessionSecrets.resolve(
            userRules: [], profileRules: AgentProfile.claude.credentialRules, requestRules: [],
            environment: ["CLAUDE_CODE_OAUTH_TOKEN": "oat-REAL"], home: "/h", session: Self.session)
        let token = try #require(secrets.sandboxEnvironment["CLAUDE_CODE_OAUTH_TOKEN"])
        for target in [
            "/v1/messages#/../../api/oauth/claude_cli/create_api_key",
            "/api/oauth/claude_cli/create_api_key/..;/..;/..;/..;/v1/messages", "/api/x\\..\\..\\v1/messages",
        ] {
            var headers: [(name: String, value: String)] = [("authorization", "Bearer " + token)]
            let outcome = secrets.rewrite(host: "api.anthropic.com", port: 443, target: target, headers: &headers)
            #expect(!outcome.credentialAdded && headers[0].value == "Bearer " + token, "\(target)")
        }
    }

    @Test func normalisedPaths() {
        let rows: [(String, String?)] = [
            ("/", "/"), ("/a//b/", "/a/b"), ("/a/./b/../c", "/a/c"), ("/../../a", "/a"), ("/A%2Fb", "/a/b"),
            ("/a;p/b;q", "/a/b"), ("/a?x=1#y", nil), ("/a?x=1", "/a"), ("/a%25", nil), ("/a%2", nil), ("a", nil),
            ("/%C3%A9", "/é"),
        ]
        for (raw, normalised) in rows {
            #expect(RequestPath.normalise(raw) == normalised, "\(raw)")
        }
    }

    @Test func globsAreLinearAndAnchored() {
        let pattern = RequestPattern("GET /a/*/b")!
        #expect(pattern.description == "GET /a/*/b")
        #expect(
            RequestPattern.glob(Array("*a*a*a*a*a*b".utf8)[...], Array(String(repeating: "a", count: 5000).utf8)[...])
                == false)
        #expect(RequestPattern.glob(Array("/a/*/b".utf8)[...], Array("/a/x/y/b".utf8)[...]))
        #expect(!RequestPattern.glob(Array("/a/*/b".utf8)[...], Array("/a/x/b/c".utf8)[...]))
        #expect(RequestPattern("get") != nil && RequestPattern("G3T /") == nil && RequestPattern("GET x") == nil)
    }

    // MARK: credential rules

    @Test func credentialRulesTakeOneExactHost() throws {
        for bad in ["*.github.com", "127.0.0.1", "github.com:443", "", "a b", "[::1]"] {
            #expect(throws: CredentialRuleError.self, "\(bad)") {
                try CredentialRule.parse(
                    host: bad, port: nil, header: "x-api-key", scheme: nil, variable: "K", file: nil)
            }
        }
        let rule = try CredentialRule.parse(
            host: "API.GitHub.com", port: nil, header: "Authorization", scheme: "bearer", variable: "GITHUB_TOKEN",
            file: nil)
        #expect(
            rule
                == CredentialRule(
                    host: "api.github.com", header: .authorization(scheme: "Bearer"), variable: "GITHUB_TOKEN"))
        #expect(throws: CredentialRuleError.self) {
            try CredentialRule.parse(
                host: "a.com", port: nil, header: "authorization", scheme: nil, variable: "K", file: nil)
        }
        #expect(throws: CredentialRuleError.self) {
            try CredentialRule.parse(host: "a.com", port: nil, header: "cookie", scheme: nil, variable: "K", file: nil)
        }
        #expect(throws: CredentialRuleError.self) {
            try CredentialRule.parse(host: "a.com", port: 0, header: "x-api-key", scheme: nil, variable: "K", file: nil)
        }
        #expect(throws: CredentialRuleError.self) {
            try CredentialRule.parse(
                host: "a.com", port: nil, header: "x-api-key", scheme: nil, variable: "1K", file: nil)
        }
    }

    @Test func configParsesCredentialsAndRequests() throws {
        let text = """
            [[network.credentials]]
            host = "api.github.com"
            header = "authorization"
            scheme = "token"
            env = "GITHUB_TOKEN"

            [[network.credentials]]
            host = "git.example"
            port = 8443
            header = "x-api-key"
            env = "EXAMPLE_KEY"
            file = "~/.config/example/key"

            [[network.requests]]
            host = "github.com"
            deny = ["POST */git-receive-pack"]
            """
        let config = try ConfigParser.parse(text, file: "p.toml")
        #expect(
            config.network.credentials == [
                CredentialRule(
                    host: "api.github.com", header: .authorization(scheme: "token"), variable: "GITHUB_TOKEN"),
                CredentialRule(
                    host: "git.example", port: 8443, header: .apiKey, variable: "EXAMPLE_KEY",
                    file: "~/.config/example/key"),
            ])
        #expect(
            config.network.requests == [
                RequestRule(host: "github.com", deny: [RequestPattern("POST */git-receive-pack")!])
            ])
        let merged = config.merged(over: try ConfigParser.parse(text, file: "g.toml"))
        #expect(merged.network.credentials.count == 2 && merged.network.requests.count == 1)

        for (bad, says) in [
            ("[[network.credentials]]\nhost = \"*.github.com\"\nheader = \"x-api-key\"\nenv = \"K\"", "exact host"),
            (
                "[[network.credentials]]\nhost = \"a.com\"\nheader = \"x-api-key\"\nenv = \"K\"\nvalue = \"s\"",
                "unknown key"
            ),
            ("[[network.credentials]]\nhost = \"a.com\"\nenv = \"K\"", "needs"),
            ("[[network.requests]]\nhost = \"a.com\"\ndeny = [\"push everything\"]", "no request pattern"),
            ("[[network.requests]]\nhost = \"a.com\"", "needs `allow` or `deny`"),
            ("[network]\ncredentials = 3", "list of tables"),
        ] {
            #expect {
                try ConfigParser.parse(bad, file: "p.toml")
            } throws: { error in
                "\(error)".contains("p.toml:") && "\(error)".contains(says)
            }
        }
    }

    // MARK: placeholders and resolution

    @Test func placeholdersAreRecognisablePerSessionAndHoldNoSecret() throws {
        let secret = "sk-ant-api03-REAL"
        let secrets = try SessionSecrets.resolve(
            userRules: [], profileRules: AgentProfile.claude.credentialRules, requestRules: [],
            environment: ["ANTHROPIC_API_KEY": secret], home: "/home/u", session: Self.session)
        let placeholder = try #require(secrets.sandboxEnvironment["ANTHROPIC_API_KEY"])
        #expect(placeholder.hasPrefix("paddock-placeholder-20261201-221000-00ab-"))
        #expect(!placeholder.contains(secret) && !placeholder.contains("REAL"))
        #expect(placeholder.count == "paddock-placeholder-20261201-221000-00ab-".count + 32)
        let again = try SessionSecrets.resolve(
            userRules: [], profileRules: AgentProfile.claude.credentialRules, requestRules: [],
            environment: ["ANTHROPIC_API_KEY": secret], home: "/home/u", session: Self.session)
        #expect(again.sandboxEnvironment["ANTHROPIC_API_KEY"] != placeholder)
        // From the launcher: the session's id, then a tail stable per project and variable (Claude's key approval
        // keys on the last 20 characters), never derived from the secret.
        let stable = try SessionSecrets.resolve(
            config: PaddockConfig(), profile: .claude, environment: ["ANTHROPIC_API_KEY": secret], home: "/h",
            session: Self.session, project: "/p")
        let later = try SessionSecrets.resolve(
            config: PaddockConfig(), profile: .claude, environment: ["ANTHROPIC_API_KEY": "other"], home: "/h",
            session: SessionID("20261202-080000-00cd")!, project: "/p")
        let first = try #require(stable.sandboxEnvironment["ANTHROPIC_API_KEY"])
        let second = try #require(later.sandboxEnvironment["ANTHROPIC_API_KEY"])
        #expect(first != second && first.suffix(32) == second.suffix(32))
        #expect(first.hasPrefix("paddock-placeholder-20261201-221000-00ab-"))
        #expect("\(secrets.credentials[0].secret)" == "<secret>" && !"\(secrets)".contains(secret))
        var dumped = ""
        dump(secrets, to: &dumped)
        #expect(!dumped.contains("REAL") && !String(reflecting: secrets).contains("REAL"), "\(dumped)")
        #expect(secrets.intercepts(host: "api.anthropic.com", port: 443))
        #expect(!secrets.intercepts(host: "platform.claude.com", port: 443))
    }

    @Test func profileAlternativesTakeTheFirstThatIsSetAndWithholdTheRest() throws {
        let both = try SessionSecrets.resolve(
            userRules: [], profileRules: AgentProfile.claude.credentialRules, requestRules: [],
            environment: ["ANTHROPIC_API_KEY": "key", "CLAUDE_CODE_OAUTH_TOKEN": "token"], home: "/h",
            session: Self.session)
        #expect(both.credentials.map(\.rule.variable) == ["ANTHROPIC_API_KEY"])
        #expect(both.withheldVariables == ["ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"])
        let token = try SessionSecrets.resolve(
            userRules: [], profileRules: AgentProfile.claude.credentialRules, requestRules: [],
            environment: ["CLAUDE_CODE_OAUTH_TOKEN": "token"], home: "/h", session: Self.session)
        #expect(token.credentials.map(\.rule.header) == [.authorization(scheme: "Bearer")])
        // Neither set: the agent logs in by itself, as without paddock.
        let none = try SessionSecrets.resolve(
            userRules: [], profileRules: AgentProfile.claude.credentialRules, requestRules: [], environment: [:],
            home: "/h", session: Self.session)
        #expect(none.credentials.isEmpty && none.sandboxEnvironment.isEmpty)
        #expect(Set(AgentProfile.codex.credentialRules.map(\.host)) == ["api.openai.com"])
        for profile in AgentProfile.all {
            for rule in profile.credentialRules { #expect(profile.networkHosts.contains(rule.host)) }
        }
    }

    @Test func aMissingUserSecretStopsTheSessionBeforeItStarts() throws {
        let rule = CredentialRule(
            host: "api.github.com", header: .authorization(scheme: "Bearer"), variable: "GITHUB_TOKEN")
        #expect {
            try SessionSecrets.resolve(
                userRules: [rule], profileRules: [], requestRules: [], environment: [:], home: "/h",
                session: Self.session)
        } throws: { error in
            "\(error)".contains("GITHUB_TOKEN, which is not set") && "\(error)".contains("nothing was started")
        }
        var fromFile = rule
        fromFile.file = "~/.token"
        let read = try SessionSecrets.resolve(
            userRules: [fromFile], profileRules: [], requestRules: [], environment: [:], home: "/h",
            session: Self.session, readFile: { $0 == "/h/.token" ? "ghp_x\n" : nil })
        #expect(read.credentials.first?.secret.text == "ghp_x")
        #expect(throws: PaddockError.self) {
            try SessionSecrets.resolve(
                userRules: [fromFile], profileRules: [], requestRules: [], environment: [:], home: "/h",
                session: Self.session, readFile: { _ in nil })
        }
        // A value no header may carry is refused rather than sent in pieces.
        #expect(throws: PaddockError.self) {
            try SessionSecrets.resolve(
                userRules: [rule], profileRules: [], requestRules: [], environment: ["GITHUB_TOKEN": "a\r\nX-Evil: 1"],
                home: "/h", session: Self.session)
        }
    }

    // MARK: substitution is bound to the host and the header

    @Test func onlyTheConfiguredHeaderToTheRulesHostIsReplaced() throws {
        let github = CredentialRule(
            host: "api.github.com", header: .authorization(scheme: "Bearer"), variable: "GITHUB_TOKEN")
        let anthropic = CredentialRule(host: "api.anthropic.com", header: .apiKey, variable: "ANTHROPIC_API_KEY")
        let secrets = try SessionSecrets.resolve(
            userRules: [github, anthropic], profileRules: [], requestRules: [],
            environment: ["GITHUB_TOKEN": "ghp_REAL", "ANTHROPIC_API_KEY": "sk-REAL"], home: "/h", session: Self.session
        )
        let gh = try #require(secrets.sandboxEnvironment["GITHUB_TOKEN"])
        let key = try #require(secrets.sandboxEnvironment["ANTHROPIC_API_KEY"])

        var headers: [(name: String, value: String)] = [("Authorization", "bearer " + gh), ("X-Other", gh)]
        var outcome = secrets.rewrite(host: "api.github.com", port: 443, target: "/user?t=" + gh, headers: &headers)
        #expect(headers[0].value == "Bearer ghp_REAL" || headers[0].value == "bearer ghp_REAL")
        #expect(headers[1].value == gh)
        #expect(outcome == HeaderRewrite(credentialAdded: true, strayPlaceholder: true))

        // Another rule's host: its own header name with the other placeholder is left alone.
        headers = [("x-api-key", gh), ("authorization", "Bearer " + key)]
        outcome = secrets.rewrite(host: "api.anthropic.com", port: 443, target: "/v1/messages", headers: &headers)
        #expect(headers[0].value == gh && headers[1].value == "Bearer " + key)
        #expect(outcome == HeaderRewrite(credentialAdded: false, strayPlaceholder: true))

        // The right host on another port, or a value that only contains the placeholder: unchanged.
        headers = [("authorization", "Bearer " + gh)]
        outcome = secrets.rewrite(host: "api.github.com", port: 8443, target: "/", headers: &headers)
        #expect(headers[0].value == "Bearer " + gh && !outcome.credentialAdded)
        headers = [("authorization", "Bearer " + gh + "x"), ("authorization", "Basic " + gh)]
        outcome = secrets.rewrite(host: "api.github.com", port: 443, target: "/", headers: &headers)
        #expect(headers.map(\.value) == ["Bearer " + gh + "x", "Basic " + gh] && !outcome.credentialAdded)

        // No placeholder: passes unchanged, nothing reported.
        headers = [("authorization", "Bearer user-own-token")]
        outcome = secrets.rewrite(host: "api.github.com", port: 443, target: "/", headers: &headers)
        #expect(headers[0].value == "Bearer user-own-token" && outcome == HeaderRewrite())
    }

    /// Attack: a credential added on every path of its host lets the agent use it for more than inference —
    /// Claude's OAuth token on `/api/oauth/claude_cli/create_api_key` mints a lasting API key into the sandbox, a
    /// GitHub token on `POST /repos/o/r/keys` adds a deploy key. Outside a rule's paths the placeholder goes on
    /// as sent (and is reported).
    @Test func credentialsAreAddedOnlyOnTheirRulesPaths() throws {
        let secrets = try SessionSecrets.resolve(
            userRules: [], profileRules: AgentProfile.claude.credentialRules, requestRules: [],
            environment: ["CLAUDE_CODE_OAUTH_TOKEN": "oat-REAL"], home: "/h", session: Self.session)
        let token = try #require(secrets.sandboxEnvironment["CLAUDE_CODE_OAUTH_TOKEN"])
        for (target, added) in [
            ("/v1/messages?beta=true", true), ("/v1/messages/count_tokens", true),
            ("/api/oauth/claude_cli/create_api_key", false), ("/api/oauth/claude_cli/roles", false),
            ("/V1/../api/oauth/claude_cli/create_api_key", false), ("/v1%2F..%2Fapi/oauth/x", false),
            ("/v1", false), ("/", false),
        ] {
            var headers: [(name: String, value: String)] = [("authorization", "Bearer " + token)]
            let outcome = secrets.rewrite(host: "api.anthropic.com", port: 443, target: target, headers: &headers)
            #expect(outcome.credentialAdded == added, "\(target)")
            #expect(headers[0].value == (added ? "Bearer oat-REAL" : "Bearer " + token), "\(target)")
            #expect(outcome.strayPlaceholder == !added, "\(target)")
        }
        #expect(AgentProfile.codex.credentialRules.allSatisfy { !$0.paths.isEmpty })

        let config = try ConfigParser.parse(
            "[[network.credentials]]\nhost = \"api.github.com\"\nheader = \"authorization\"\nscheme = \"Bearer\"\nenv = \"GITHUB_TOKEN\"\npaths = [\"/repos/*/pulls*\", \"/User\"]",
            file: "g.toml")
        #expect(config.network.credentials.first?.paths == ["/repos/*/pulls*", "/user"])
        let github = try SessionSecrets.resolve(
            userRules: config.network.credentials, profileRules: [], requestRules: [],
            environment: ["GITHUB_TOKEN": "ghp_REAL"], home: "/h", session: Self.session)
        let gh = try #require(github.sandboxEnvironment["GITHUB_TOKEN"])
        for (target, added) in [("/repos/o/r/pulls", true), ("/user", true), ("/repos/o/r/keys", false)] {
            var headers: [(name: String, value: String)] = [("authorization", "Bearer " + gh)]
            #expect(
                github.rewrite(host: "api.github.com", port: 443, target: target, headers: &headers).credentialAdded
                    == added, "\(target)")
        }
        #expect(throws: PaddockError.self) {
            try ConfigParser.parse(
                "[[network.credentials]]\nhost = \"a.com\"\nheader = \"x-api-key\"\nenv = \"K\"\npaths = [\"v1\"]",
                file: "g.toml")
        }
    }

    @Test func theSandboxEnvironmentGetsPlaceholdersNeverTheValues() throws {
        let secrets = try SessionSecrets.resolve(
            userRules: [], profileRules: AgentProfile.claude.credentialRules, requestRules: [],
            environment: ["ANTHROPIC_API_KEY": "sk-REAL", "CLAUDE_CODE_OAUTH_TOKEN": "oat-REAL"], home: "/h",
            session: Self.session)
        var config = PaddockConfig()
        config.env = ["CLAUDE_CODE_OAUTH_TOKEN", "OTHER"]
        var request = SessionRequest(
            sessionID: Self.session, projectRoot: "/p", workspaceSource: "/p", hostHome: "/h", hostUID: 1000,
            hostGID: 1000, launcherPID: 1,
            config: config, profile: .claude, imageTag: "img",
            hostEnvironment: ["ANTHROPIC_API_KEY": "sk-REAL", "CLAUDE_CODE_OAUTH_TOKEN": "oat-REAL", "OTHER": "o"],
            additionalEnvironment: secrets.sandboxEnvironment,
            paths: PaddockPaths(home: "/h", configDirectory: "/h/.config/paddock", stateDirectory: "/h/.state"))
        request.withheldEnvironment = secrets.withheldVariables
        let spec = try SessionPlanner.plan(
            request, socketInside: { _ in nil }, resolvePath: { PathResolution(real: $0, entries: [], exists: true) },
            fileExists: { _ in false })
        #expect(spec.passthroughEnvironment == ["OTHER"])
        #expect(spec.environment["ANTHROPIC_API_KEY"] == secrets.sandboxEnvironment["ANTHROPIC_API_KEY"])
        #expect(spec.environment["CLAUDE_CODE_OAUTH_TOKEN"] == nil)
        #expect(!spec.environment.values.contains { $0.contains("REAL") })
    }
}
