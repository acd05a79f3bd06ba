/// How one agent is installed, started, credentialled and networked: data, not scattered conditionals.
public struct AgentProfile: Equatable, Sendable {
    public var name: String
    /// Debian packages the install step needs.
    public var packages: [String]
    /// Shell run as root while building the image.
    public var installSteps: [String]
    public var command: [String]
    public var defaultArguments: [String]
    public var environment: [String: String]
    /// Host variables that carry its credentials; passed through when set.
    public var credentialVariables: [String]
    /// Gateway rules the agent needs to work at all.
    public var networkHosts: [String]
    /// Files and folders under the host's home, shown read-only at the same place under the sandbox home.
    public var readOnlyHostFiles: [String]
    /// Folders created in the image's home so read-only mounts inside them don't leave root-owned parents.
    public var homeDirectories: [String]

    public static let claude = AgentProfile(
        name: "claude",
        packages: ["nodejs", "npm"],
        installSteps: ["npm install -g --no-fund --no-audit @anthropic-ai/claude-code"],
        command: ["claude"],
        defaultArguments: ["--dangerously-skip-permissions"],
        environment: ["IS_SANDBOX": "1", "DISABLE_AUTOUPDATER": "1"],
        credentialVariables: ["CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY"],
        networkHosts: ["api.anthropic.com", "console.anthropic.com", "claude.ai", "statsig.anthropic.com"],
        readOnlyHostFiles: [
            ".claude/CLAUDE.md", ".claude/settings.json", ".claude/commands", ".claude/agents",
        ],
        homeDirectories: [".claude"])

    public static let codex = AgentProfile(
        name: "codex",
        packages: ["nodejs", "npm"],
        installSteps: ["npm install -g --no-fund --no-audit @openai/codex"],
        command: ["codex"],
        defaultArguments: ["--dangerously-bypass-approvals-and-sandbox"],
        environment: [:],
        credentialVariables: ["OPENAI_API_KEY"],
        networkHosts: ["api.openai.com", "auth.openai.com", "chatgpt.com"],
        readOnlyHostFiles: [],
        homeDirectories: [".codex"])

    /// Gemini CLI needs Node 20 or newer, which Debian bookworm does not ship: it comes from nodejs.org, checked
    /// against the release's published checksums.
    public static let gemini = AgentProfile(
        name: "gemini",
        packages: ["xz-utils"],
        installSteps: [
            """
            arch="$(dpkg --print-architecture | sed 's/amd64/x64/')" \\
             && cd /tmp \\
             && curl -fsSLO "https://nodejs.org/dist/v22.11.0/node-v22.11.0-linux-$arch.tar.xz" \\
             && curl -fsSL https://nodejs.org/dist/v22.11.0/SHASUMS256.txt | grep " node-v22.11.0-linux-$arch.tar.xz\\$" | sha256sum -c - \\
             && tar -xJf "node-v22.11.0-linux-$arch.tar.xz" -C /usr/local --strip-components=1 \\
             && rm "node-v22.11.0-linux-$arch.tar.xz"
            """,
            "npm install -g --no-fund --no-audit @google/gemini-cli",
        ],
        command: ["gemini"],
        defaultArguments: ["--yolo"],
        environment: [:],
        credentialVariables: ["GEMINI_API_KEY"],
        networkHosts: [
            "generativelanguage.googleapis.com", "oauth2.googleapis.com", "accounts.google.com",
            "cloudcode-pa.googleapis.com",
        ],
        readOnlyHostFiles: [],
        homeDirectories: [".gemini"])

    /// A plain shell: nothing to install, nothing to reach.
    public static let shell = AgentProfile(
        name: "shell",
        packages: [],
        installSteps: [],
        command: ["bash"],
        defaultArguments: [],
        environment: [:],
        credentialVariables: [],
        networkHosts: [],
        readOnlyHostFiles: [],
        homeDirectories: [])

    public static let all: [AgentProfile] = [.claude, .codex, .gemini, .shell]

    public static func named(_ name: String) throws -> AgentProfile {
        guard let profile = all.first(where: { $0.name == name }) else {
            throw PaddockError.invalidArgument(
                "Unknown agent \"\(name)\". Choose one of: \(all.map(\.name).joined(separator: ", ")).")
        }
        return profile
    }

    /// The argv inside the sandbox: with no user arguments, the default ones; user arguments come after them
    /// for agents (so `paddock run -- -c` is `claude --dangerously-skip-permissions -c`), and replace the
    /// shell's command entirely (`paddock run --agent shell -- make test`).
    public func argv(userArguments: [String]) -> [String] {
        if name == AgentProfile.shell.name, !userArguments.isEmpty { return userArguments }
        return command + defaultArguments + userArguments
    }
}
