import PaddockCore
import Testing

/// The profiles as the issue and the README state them: what runs, which variables carry credentials, what the
/// gateway must let through.
@Suite("Agent profiles")
struct AgentProfileTests {
    struct Expected: Sendable, CustomStringConvertible {
        var profile: AgentProfile
        var argv: [String]
        var credentials: [String]
        var hosts: [String]
        var description: String { profile.name }
    }

    static let table: [Expected] = [
        Expected(
            profile: .claude, argv: ["claude", "--dangerously-skip-permissions"],
            credentials: ["CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY"],
            hosts: ["api.anthropic.com", "console.anthropic.com", "claude.ai", "statsig.anthropic.com"]),
        Expected(
            profile: .codex, argv: ["codex", "--dangerously-bypass-approvals-and-sandbox"],
            credentials: ["OPENAI_API_KEY"], hosts: ["api.openai.com", "auth.openai.com", "chatgpt.com"]),
        Expected(
            profile: .gemini, argv: ["gemini", "--yolo"], credentials: ["GEMINI_API_KEY"],
            hosts: [
                "generativelanguage.googleapis.com", "oauth2.googleapis.com", "accounts.google.com",
                "cloudcode-pa.googleapis.com",
            ]),
        Expected(profile: .shell, argv: ["bash"], credentials: [], hosts: []),
    ]

    @Test(arguments: table) func eachProfileRunsAndReachesWhatItShould(_ expected: Expected) throws {
        #expect(expected.profile.argv(userArguments: []) == expected.argv)
        #expect(expected.profile.credentialVariables == expected.credentials)
        #expect(expected.profile.networkHosts == expected.hosts)
        #expect(try AgentProfile.named(expected.profile.name) == expected.profile)
    }

    @Test func claudeRunsInSandboxModeWithoutUpdatingItself() {
        #expect(AgentProfile.claude.environment == ["IS_SANDBOX": "1", "DISABLE_AUTOUPDATER": "1"])
    }

    /// Each agent's credential reaches its sandbox by name, and its value never appears in what paddock renders.
    @Test(arguments: table.filter { !$0.credentials.isEmpty })
    func credentialsPassByNameOnly(_ expected: Expected) throws {
        let paths = PaddockPaths(home: "/home/u", configDirectory: "/home/u/.config/paddock", stateDirectory: "/home/u/.local/state/paddock")
        let secrets = Dictionary(uniqueKeysWithValues: expected.credentials.map { ($0, "secret-\($0)") })
        let request = SessionRequest(
            sessionID: try #require(SessionID("20261121-0521-k3f9")), projectRoot: "/home/u/app", hostHome: "/home/u",
            hostUID: 1234, hostGID: 1234, launcherPID: 42, config: PaddockConfig(), profile: expected.profile,
            userArguments: [], allowDangerousMounts: false, imageTag: "paddock-\(expected.profile.name):abc",
            hostEnvironment: secrets, paths: paths)
        let spec = try SessionPlanner.plan(request) { _ in false }
        #expect(spec.passthroughEnvironment == expected.credentials)
        let rendered = "\(spec.environment) \(spec.command) \(spec.labels)"
        for secret in secrets.values { #expect(!rendered.contains(secret)) }
    }

    @Test func anUnknownAgentNamesTheKnownOnes() {
        #expect(throws: PaddockError.self) { try AgentProfile.named("copilot") }
    }
}
