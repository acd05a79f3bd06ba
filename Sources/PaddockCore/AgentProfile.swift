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
    /// A host settings file the agent reads as a layer above its own, from a read-only path outside its home, so
    /// the agent's own writes to its settings file land in the home volume and survive.
    public var settingsLayer: SettingsLayer? = nil
    /// Files paddock adds to this agent's image, by path relative to `/` (root-owned: the agent cannot change them).
    public var imageFiles: [String: String] = [:]
    /// Shell run as the agent inside the sandbox just before it starts: state in its home that is paddock's
    /// business (for Claude, that /workspace is trusted). It must never fail the start.
    public var sessionSetup: String? = nil
    /// Whether the agent's CLI is one self-contained executable, so it can be installed from a file the user
    /// already has (`image.agent_binary` / `image.agent_archive`) with none of `packages` and `installSteps`.
    public var installsFromExecutable = false
    /// Where the gateway adds the agent's credentials, so the sandbox holds only placeholders. Alternatives: the
    /// first whose variable is set on the host is used (see `SessionSecrets.resolve`).
    public var credentialRules: [CredentialRule] = []

    /// The user's host settings, shown read-only at `sandboxPath` and named to the agent with `arguments`.
    public struct SettingsLayer: Equatable, Sendable {
        /// Relative to the host's home.
        public var hostFile: String
        public var sandboxPath: String
        public var arguments: [String]
    }

    /// Claude Code. Hosts, from the 2.1.332 binary (`strings claude | grep …`) and a real first start through the
    /// gateway:
    /// - `api.anthropic.com`: the Messages API (`BASE_API_URL`), and `/api/oauth/claude_cli/create_api_key` and
    ///   `/roles` after a Console login;
    /// - `platform.claude.com`: called on every first start (without it: "Unable to connect to Anthropic services
    ///   … ERR_PROXY_TUNNEL", exit 1), and the OAuth token exchange (`TOKEN_URL` `/v1/oauth/token`, Console
    ///   `/oauth/authorize`) — so login needs it too;
    /// - `claude.ai`: `CLAUDE_AI_ORIGIN` and the OAuth client metadata of a subscription login.
    /// Not listed: `statsig.anthropic.com` and `console.anthropic.com`, absent from the binary; the start also asks
    /// for `raw.githubusercontent.com` (the changelog), `downloads.claude.ai` (updates, off here) and `github.com`,
    /// and works without them.
    public static let claude = AgentProfile(
        name: "claude",
        packages: ["nodejs", "npm"],
        installSteps: ["npm install -g --no-fund --no-audit @anthropic-ai/claude-code"],
        command: ["claude"],
        defaultArguments: ["--dangerously-skip-permissions"],
        // CLAUDE_CODE_RESUME_HINT_COMMAND: the program Claude names in "Resume this session with: … --resume ID"
        // (one word only), so the hint is `paddock --resume ID`, not `claude --dangerously-skip-permissions …`.
        // CLAUDE_CODE_DISABLE_TERMINAL_TITLE: the title is where paddock tells the user of a denied host while the
        // full-screen UI owns the screen (see DenialNotices); Claude would overwrite it with its own.
        environment: [
            "IS_SANDBOX": "1", "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_RESUME_HINT_COMMAND": "paddock",
            "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
        ],
        credentialVariables: ["CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY"],
        networkHosts: ["api.anthropic.com", "platform.claude.com", "claude.ai"],
        readOnlyHostFiles: [".claude/CLAUDE.md", ".claude/commands", ".claude/agents"],
        homeDirectories: [".claude"],
        // Claude writes ~/.claude/settings.json itself (the accepted bypass warning, /config, /model): a read-only
        // mount over it made Claude ask again every session. The host's file is a `--settings` layer instead
        // (Claude's "flag settings", above its user settings, read-only by design), so the user's settings still win
        // and reach every session, and Claude's own writes land in the home volume.
        settingsLayer: SettingsLayer(
            hostFile: ".claude/settings.json", sandboxPath: "/etc/paddock/claude/settings.json",
            arguments: ["--settings", "/etc/paddock/claude/settings.json"]),
        // The npm package's `claude` is the same single executable that the Agent SDK wheel bundles.
        // The sandbox is why skipping permissions is safe, so its warning is paddock's to accept: Claude reads
        // `skipDangerousModePermissionPrompt` from its managed (policy) settings too, a root-owned file here.
        imageFiles: ["etc/claude-code/managed-settings.json": #"{"skipDangerousModePermissionPrompt": true}"# + "\n"],
        // Trusting /workspace is paddock's business too: Claude keeps it per project in ~/.claude.json, which is
        // its own state in the home volume. Theme, login and "use this API key?" stay the user's.
        sessionSetup: """
            f="$HOME/.claude.json"
            [ -s "$f" ] || printf '{}' > "$f"
            jq '.projects["/workspace"].hasTrustDialogAccepted = true' "$f" > "$f.paddock-$$" 2>/dev/null \\
              && mv -f "$f.paddock-$$" "$f" || rm -f "$f.paddock-$$"
            """,
        installsFromExecutable: true,
        // Claude Code takes an API key over a subscription token when both are set; so does this order. Only on
        // `/v1/*` (the Messages API: `/v1/messages`, `/count_tokens`, `/v1/models`): not `/api/oauth/claude_cli/
        // create_api_key`, which would mint a lasting key into the sandbox, nor the rest of `/api/*` (usage,
        // account settings). The OAuth refresh is `TOKEN_URL` on platform.claude.com with the refresh token in the
        // body, so no rule here touches it (strings of the 2.1 binary bundled with claude-agent-sdk 0.2.189).
        credentialRules: [
            CredentialRule(host: "api.anthropic.com", header: .apiKey, variable: "ANTHROPIC_API_KEY", paths: ["/v1/*"]),
            CredentialRule(
                host: "api.anthropic.com", header: .authorization(scheme: "Bearer"),
                variable: "CLAUDE_CODE_OAUTH_TOKEN",
                paths: ["/v1/*"]),
        ])

    /// Codex. Hosts, from codex-cli 0.163.0 in the real-agent tests: `api.openai.com` (the Responses API, over a
    /// WebSocket first and HTTPS after), `chatgpt.com` (`/backend-api/plugins/…` at start, and the ChatGPT-login
    /// backend), `auth.openai.com` (the ChatGPT login's OAuth).
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
        homeDirectories: [".codex"],
        // `codex` from npm wraps a static Rust executable, the one the openai-codex-cli-bin wheel carries.
        installsFromExecutable: true,
        // Codex 0.163 reads either (its strings: "provide an API key through a supported auth env var").
        credentialRules: [
            CredentialRule(
                host: "api.openai.com", header: .authorization(scheme: "Bearer"), variable: "OPENAI_API_KEY",
                paths: ["/v1/*"]),
            CredentialRule(
                host: "api.openai.com", header: .authorization(scheme: "Bearer"), variable: "CODEX_API_KEY",
                paths: ["/v1/*"]),
        ])

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
    public func argv(userArguments: [String], settingsLayerPresent: Bool = false) -> [String] {
        if name == AgentProfile.shell.name, !userArguments.isEmpty { return userArguments }
        let layer = settingsLayerPresent ? settingsLayer?.arguments ?? [] : []
        return command + defaultArguments + layer + userArguments
    }

    /// The same sandbox running `command` instead of the agent (`paddock shell`): no agent flags, no setup.
    public func running(_ command: [String]) -> AgentProfile {
        var profile = self
        profile.command = command
        profile.defaultArguments = []
        profile.settingsLayer?.arguments = []
        profile.sessionSetup = nil
        return profile
    }

    /// The argv with the session setup before it: the setup script, then `exec` of the agent.
    func withSetup(_ argv: [String]) -> [String] {
        guard let sessionSetup else { return argv }
        return ["/bin/sh", "-c", sessionSetup + "\nexec \"$@\"", "paddock-setup"] + argv
    }
}
