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
            hosts: ["api.anthropic.com", "platform.claude.com", "claude.ai"]),
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

    /// The resume hint Claude prints on exit names paddock (`paddock --resume ID`), not
    /// `claude --dangerously-skip-permissions --resume ID`, which is no way to resume a paddock session.
    @Test func claudeRunsInSandboxModeWithoutUpdatingItselfAndNamesPaddockToResume() {
        #expect(
            AgentProfile.claude.environment == [
                "IS_SANDBOX": "1", "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_RESUME_HINT_COMMAND": "paddock",
                "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
            ])
    }

    /// The issue: the first interactive start died on `platform.claude.com` (not allowed), while two allowed hosts
    /// never appear in the 2.1.332 binary. The evidence stays beside the list in AgentProfile.swift.
    @Test func claudeReachesPlatformAndNotHostsItNeverContacts() {
        let hosts = AgentProfile.claude.networkHosts
        #expect(hosts.contains("platform.claude.com"))
        #expect(!hosts.contains("statsig.anthropic.com") && !hosts.contains("console.anthropic.com"))
    }

    /// `paddock shell` in a Claude project runs bash: no Claude flags, no `--settings`, no setup before it.
    @Test func runningAnotherCommandDropsTheAgentsFlagsAndSetup() {
        let shell = AgentProfile.claude.running(["bash"])
        #expect(shell.argv(userArguments: [], settingsLayerPresent: true) == ["bash"])
        #expect(shell.sessionSetup == nil)
    }

    /// An agent's credential with a credential rule (Claude's, Codex's) never reaches the sandbox: the gateway adds
    /// it. One without (Gemini's) passes by name. No value ever appears in what paddock renders.
    @Test(arguments: table.filter { !$0.credentials.isEmpty })
    func credentialsPassByNameOnly(_ expected: Expected) throws {
        let paths = PaddockPaths(
            home: "/home/u", configDirectory: "/home/u/.config/paddock", stateDirectory: "/home/u/.local/state/paddock")
        let secrets = Dictionary(uniqueKeysWithValues: expected.credentials.map { ($0, "secret-\($0)") })
        let request = SessionRequest(
            sessionID: try #require(SessionID("20261121-0521-k3f9")), projectRoot: "/home/u/app",
            workspaceSource: "/home/u/app", hostHome: "/home/u",
            hostUID: 1234, hostGID: 1234, launcherPID: 42, config: PaddockConfig(), profile: expected.profile,
            userArguments: [], allowDangerousMounts: false, imageTag: "paddock-\(expected.profile.name):abc",
            hostEnvironment: secrets, paths: paths)
        let spec = try SessionPlanner.plan(request) { _ in false }
        let ruled = Set(expected.profile.credentialRules.map(\.variable))
        #expect(spec.passthroughEnvironment == expected.credentials.filter { !ruled.contains($0) })
        #expect(expected.profile.name == "gemini" || !ruled.isEmpty)
        let rendered = "\(spec.environment) \(spec.command) \(spec.labels)"
        for secret in secrets.values { #expect(!rendered.contains(secret)) }
    }

    @Test func anUnknownAgentNamesTheKnownOnes() {
        #expect(throws: PaddockError.self) { try AgentProfile.named("copilot") }
    }
}
