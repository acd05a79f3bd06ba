import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real agent CLIs (pinned by scripts/test.sh from PyPI's wheels) in real sandboxes, through the gateway, against
/// a scripted vendor origin of the test's own on loopback. The agent is installed from the file
/// (`image.agent_binary`), and the gateway allows the vendor hosts only because the profile lists them: the
/// configuration adds nothing but the loopback address the names are mapped to.
@Suite("Real agents end to end", .serialized, .tags(.engine))
struct RealAgentTests {
    enum Agent: String {
        case claude
        case codex

        var variable: String { "PADDOCK_TEST_\(rawValue.uppercased())_BINARY" }
        var caVariable: String { self == .claude ? "NODE_EXTRA_CA_CERTS" : "SSL_CERT_FILE" }
        var credentials: [String: String] {
            self == .claude ? ["ANTHROPIC_API_KEY": "sk-ant-api03-paddock-test"] : ["OPENAI_API_KEY": "sk-paddock-test"]
        }
        var apiHost: String { self == .claude ? "api.anthropic.com" : "api.openai.com" }
    }

    static let deniedHost = "denied.paddock.test"

    /// The CLI scripts/test.sh fetched, copied once where the unprivileged test user can read it.
    static func binary(_ agent: Agent) async throws -> String {
        guard let source = ProcessInfo.processInfo.environment[agent.variable], !source.isEmpty else {
            let problem =
                "\(agent.variable) is not set: scripts/test.sh downloads the real \(agent.rawValue) CLI and sets it"
            if IntegrationEnvironment.isCI {
                Issue.record("CI=true: \(problem)")
                throw PaddockError.other(problem)
            }
            try Test.cancel("Skipped: \(problem)")
        }
        let size = ((try FileManager.default.attributesOfItem(atPath: source)[.size]) as? NSNumber)?.intValue ?? 0
        let directory = "/tmp/paddock-test-agents"
        let target = "\(directory)/\(agent.rawValue)-\(size)"
        if !FileManager.default.fileExists(atPath: target) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let partial = target + ".partial-\(getpid())"
            try? FileManager.default.removeItem(atPath: partial)
            try FileManager.default.copyItem(atPath: source, toPath: partial)
            chmod(partial, 0o755)
            chmod(directory, 0o755)
            rename(partial, target)
        }
        guard agent == .codex else { return target }
        // Codex's package is more than one file: its code-mode host (which runs its tools), rg and bwrap sit beside
        // it, and codex-package.json, without which its interactive mode refuses to start. The whole folder goes in as an archive (image.agent_archive), as a company would ship it.
        let archive = target + "-package.tar"
        if !FileManager.default.fileExists(atPath: archive) {
            let package = ((source as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
            let pack = Command(
                "sh",
                [
                    "-c",
                    "tar -C \"$1\" -cf \"$2.partial\" codex-package.json bin codex-path codex-resources && chmod 0644 \"$2.partial\" && mv \"$2.partial\" \"$2\"",
                    "pack", package, archive,
                ])
            try await SubprocessRunner().capture(pack).check(pack)
        }
        return archive
    }

    /// A fixture whose global config installs the real CLI and maps the vendor hosts to the origin.
    func withAgent(
        _ agent: Agent, engine: TestEngine = .docker, hosts: [String]? = nil, extraConfig: String = "",
        _ body: (IntegrationFixture, VendorOrigin) async throws -> Void
    ) async throws {
        let binary = try await Self.binary(agent)
        try await IntegrationFixture.with(engine: engine) { fixture in
            let origin = try await VendorOrigin.startOrSkip(directory: fixture.root + "/vendor")
            defer { origin.stop() }
            // denied.paddock.test is allowed by nothing; mapped to the origin all the same, so that even a gateway
            // that wrongly let it through would reach only loopback.
            let mapped = ((hosts ?? VendorOrigin.hostNames) + [Self.deniedHost]).map {
                "\"\($0)\" = \"\(origin.address)\""
            }
            try await fixture.write(
                """
                engine = "\(engine.rawValue)"
                agent = "\(agent.rawValue)"
                env = ["\(agent.caVariable)"]
                mounts = [{ path = "\(origin.directory)", target = "/mnt/paddock-test-ca" }]
                [image]
                base = "\(IntegrationEnvironment.baseImage)"
                \(agent == .codex ? "agent_archive" : "agent_binary") = "\(binary)"
                [network]
                allow = ["\(origin.address)/32"]
                \(extraConfig)
                [network.hosts]
                \(mapped.joined(separator: "\n"))

                """, to: fixture.home + "/.config/paddock/config.toml")
            try await body(fixture, origin)
        }
    }

    /// paddock as the fixture runs it, bounded: an agent that cannot reach its API may retry forever (Codex waits
    /// "for network"), and a test must fail, not hang. SIGTERM makes the launcher remove the sandbox.
    func run(_ fixture: IntegrationFixture, _ arguments: [String], _ agent: Agent, seconds: Int = 240) async throws
        -> ProcessOutput
    {
        let command = fixture.paddockCommand(arguments, environment: environment(agent, fixture))
        let bounded = Command("timeout", [String(seconds)] + command.argv, workingDirectory: command.workingDirectory)
        return try await SubprocessRunner().capture(bounded)
    }

    /// The agent's key (which the gateway adds: the sandbox gets a placeholder), and the vendor CA for the sandbox
    /// and, for the API host the gateway intercepts, for the launcher's gateway.
    func environment(_ agent: Agent, _ fixture: IntegrationFixture) -> [String: String] {
        agent.credentials.merging([
            agent.caVariable: "/mnt/paddock-test-ca/ca.pem",
            "PADDOCK_TEST_UPSTREAM_CA_FILE": fixture.root + "/vendor/ca.pem",
        ]) { $1 }
    }

    func netLog(_ fixture: IntegrationFixture) async throws -> [[String: Any]] {
        let log = try await fixture.paddock(["net", "log", "--json"])
        return log.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Print mode: the scripted model asks for a shell command, Claude's Bash tool runs it in the sandbox, the file
    /// lands in the project with the host user as owner, and the gateway logged the API host as allowed.
    /// On rootless Podman too: the same image recipe, the same gateway, another engine.
    @Test(arguments: [TestEngine.docker, .podman]) func claudePrintModeRunsItsShellToolThroughTheGateway(
        engine: TestEngine
    ) async throws {
        try await withAgent(.claude, engine: engine) { fixture, origin in
            let prompt = "Please do this. PADDOCK-RUN: echo made-by-claude > /workspace/from-claude.txt"
            let result = try await run(fixture, ["run", "--", "-p", prompt, "--output-format", "json"], .claude)
            let replies = origin.requests().map { "\($0["host"] ?? "") \($0["path"] ?? "") \($0["reply"] ?? "")" }
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(replies)")
            #expect(result.stdout.contains("paddock-test: done"), "\(result.stdout)")
            let file = fixture.project + "/from-claude.txt"
            #expect((try? String(contentsOfFile: file, encoding: .utf8)) == "made-by-claude\n", "\(replies)")
            #expect(try fixture.ownerUID(of: file) == fixture.hostUID)
            #expect(
                replies.contains { $0.hasSuffix(" tool") } && replies.contains { $0.hasSuffix(" done") }, "\(replies)")
            let allowed = try await netLog(fixture).filter {
                $0["host"] as? String == "api.anthropic.com" && $0["decision"] as? String == "allow"
            }
            #expect(!allowed.isEmpty, "the gateway logged api.anthropic.com as allowed")
            // Claude held only the placeholder; the gateway gave the API the real key.
            let api = origin.requests().filter { $0["path"]?.hasPrefix("/v1/messages") == true }
            #expect(!api.isEmpty && api.allSatisfy { $0["credential"] == "sk-ant-api03-paddock-test" }, "\(api)")
            #expect(allowed.contains { $0["credential"] as? Bool == true }, "\(allowed)")
        }
    }

    /// The scripted model makes Claude fetch a host nothing allows: the gateway refuses it, the net log says so, and
    /// the user reads it on stderr while the session runs (before the end line), with the command that allows it.
    @Test func claudeFetchingADeniedHostIsRefusedAndTheUserIsTold() async throws {
        try await withAgent(.claude) { fixture, _ in
            let prompt = "PADDOCK-RUN: curl -sS -o /dev/null https://\(Self.deniedHost)/ || echo fetch-refused"
            let result = try await run(fixture, ["run", "--", "-p", prompt, "--output-format", "json"], .claude)
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            let notice = "paddock: blocked \(Self.deniedHost):443 — `paddock allow \(Self.deniedHost)` allows it"
            let lines = result.stderr.split(separator: "\n").map(String.init)
            let noticeLine = lines.firstIndex(of: notice)
            let endLine = lines.firstIndex { $0.hasPrefix("paddock: network:") }
            #expect(
                noticeLine != nil && endLine != nil && noticeLine! < endLine!,
                "told during the session:\n\(result.stderr)")
            let denied = try await netLog(fixture).filter {
                $0["host"] as? String == Self.deniedHost && $0["decision"] as? String == "deny"
            }
            #expect(!denied.isEmpty, "the gateway logged the refusal")
        }
    }

    /// The host's ~/.claude/settings.json reaches Claude (here: an environment variable it sets for its tools),
    /// read-only, and is no longer mounted over the file Claude writes in its home.
    @Test func claudeReadsTheHostSettingsAsALayerAndKeepsItsOwnFileWritable() async throws {
        try await withAgent(.claude) { fixture, _ in
            try await fixture.write(
                #"{"env": {"PADDOCK_PROBE": "from-host-settings"}}"#, to: fixture.home + "/.claude/settings.json")
            let script =
                "echo $PADDOCK_PROBE > /workspace/probe.txt; echo '{}' > ~/.claude/settings.json && echo own-file-writable >> /workspace/probe.txt; echo x > /etc/paddock/claude/settings.json 2>/dev/null || echo host-file-read-only >> /workspace/probe.txt"
            let result = try await run(
                fixture, ["run", "--", "-p", "PADDOCK-RUN: " + script, "--output-format", "json"], .claude)
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            let probe = try? String(contentsOfFile: fixture.project + "/probe.txt", encoding: .utf8)
            #expect(probe == "from-host-settings\nown-file-writable\nhost-file-read-only\n", "\(result.stdout)")
            let host = try String(contentsOfFile: fixture.home + "/.claude/settings.json", encoding: .utf8)
            #expect(host.contains("from-host-settings"), "the host's file is unchanged")
        }
    }

    /// Codex's print mode (`codex exec`): the scripted model calls its shell tool, the file lands with the host
    /// user's owner, and the gateway logged api.openai.com as allowed.
    @Test func codexExecRunsItsShellToolThroughTheGateway() async throws {
        try await withAgent(.codex) { fixture, origin in
            let prompt = "Please do this. PADDOCK-RUN: echo made-by-codex > /workspace/from-codex.txt"
            let result = try await run(fixture, ["run", "--", "exec", prompt], .codex)
            let replies = origin.requests().map {
                "\($0["host"] ?? "") \($0["path"] ?? "") \($0["reply"] ?? "") \($0["tools"] ?? "") \($0["error"] ?? "")"
            }
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(replies)")
            let file = fixture.project + "/from-codex.txt"
            #expect(
                (try? String(contentsOfFile: file, encoding: .utf8)) == "made-by-codex\n",
                "\(result.stderr)\n\(replies)")
            #expect((try? fixture.ownerUID(of: file)) == fixture.hostUID)
            #expect(result.stdout.contains("paddock-test: done"), "\(result.stdout)")
            let allowed = try await netLog(fixture).filter {
                $0["host"] as? String == "api.openai.com" && $0["decision"] as? String == "allow"
            }
            #expect(!allowed.isEmpty, "the gateway logged api.openai.com as allowed")
            // Codex held only the placeholder: whatever credential reached the API is the real key, never it.
            // (Codex 0.163's exec sent none here, so this shows no substitution for Codex yet.)
            let api = origin.requests().filter { $0["path"]?.hasSuffix("/responses") == true }
            #expect(
                !api.isEmpty && api.allSatisfy { ["", "Bearer sk-paddock-test"].contains($0["credential"]) }, "\(api)")
        }
    }

    /// Codex's first interactive start in tmux reaches its prompt and answers; the second start too.
    @Test func codexInteractiveStartsReachThePrompt() async throws {
        try await withAgent(.codex) { fixture, _ in
            for start in ["first", "second"] {
                let terminal = try await Terminal.start(fixture, ["run"], environment: environment(.codex, fixture))
                defer { terminal.close() }
                let outcome = try await terminal.reachCodexPrompt()
                #expect(
                    outcome.reached,
                    "\(start) start:\n\(outcome.screen)\nanswered:\n\(outcome.answeredScreens.joined(separator: "\n-----\n"))"
                )
                #expect(
                    outcome.userPrompts.isEmpty || start == "first",
                    "\(start) start asked \(outcome.userPrompts):\n\(outcome.screen)")
                guard outcome.reached else { return }
                try await terminal.send("-l", "say hello")
                // Codex takes keys that arrive in one burst for a paste, where Enter is a newline.
                try await Task.sleep(for: .seconds(1.5))
                try await terminal.send("Enter")
                let answer = try await terminal.waitFor { $0.contains("paddock-test: hello") }
                #expect(answer.contains("paddock-test: hello"), "\(answer)")
                try await terminal.send("C-c")
                try await terminal.send("C-c")
                try await terminal.waitFor(timeout: 20) { $0.contains("paddock-exited-") }
            }
        }
    }

    /// A first interactive start in a real terminal (tmux) reaches Claude's prompt: no "unable to connect" (the
    /// issue's platform.claude.com), and the trust and bypass prompts never appear, on the first start or the
    /// second. The theme and "use this API key?" are the user's, answered here as a user would.
    @Test func claudeInteractiveStartsReachThePromptWithoutPaddocksPrompts() async throws {
        try await withAgent(.claude) { fixture, _ in
            let terminal = try await Terminal.start(fixture, ["run"], environment: environment(.claude, fixture))
            defer { terminal.close() }
            let first = try await terminal.reachClaudePrompt(answeringUserPrompts: true)
            #expect(first.reached, "first start:\n\(first.screen)")
            #expect(first.paddockPrompts.isEmpty, "first start showed \(first.paddockPrompts):\n\(first.screen)")
            // A conversation to resume: Claude prints the hint only for a session with messages.
            try await terminal.send("-l", "say hello")
            try await terminal.send("Enter")
            let answer = try await terminal.waitFor { $0.contains("paddock-test: hello") }
            #expect(answer.contains("paddock-test: hello"), "\(answer)")
            // Nothing of paddock's is written across the agent's picture while it runs (the title carries it).
            #expect(!answer.contains("paddock: notice") && !answer.contains("paddock: warning"), "\(answer)")
            // Claude's own start asks for hosts it can do without (its changelog on raw.githubusercontent.com):
            // while its full-screen UI runs, the user reads the refusal in the terminal's title.
            let title = try await terminal.waitFor(timeout: 20, read: terminal.title) {
                $0.hasPrefix("paddock: blocked")
            }
            #expect(title.hasPrefix("paddock: blocked"), "title: \(title)")
            try await terminal.exitClaude()
            let hint = try await terminal.waitFor(timeout: 10) { $0.contains("--resume") }
            #expect(
                hint.contains("paddock: blocked raw.githubusercontent.com:443"), "listed again after the exit:\n\(hint)"
            )
            #expect(hint.contains("paddock --resume"), "the resume hint names paddock:\n\(hint)")
            #expect(!hint.contains("claude --dangerously-skip-permissions --resume"), "\(hint)")

            let second = try await Terminal.start(fixture, ["run"], environment: environment(.claude, fixture))
            defer { second.close() }
            let again = try await second.reachClaudePrompt(answeringUserPrompts: false)
            #expect(again.reached, "second start:\n\(again.screen)")
            #expect(
                again.paddockPrompts.isEmpty && again.userPrompts.isEmpty, "second start asked again:\n\(again.screen)")
            try await second.exitClaude()
        }
    }
}

/// paddock in a real terminal: a tmux session of its own (own socket), driven by send-keys and read by
/// capture-pane, as a user at a terminal would drive it.
final class Terminal: @unchecked Sendable {
    let socket: String
    let runner = SubprocessRunner()

    static func start(_ fixture: IntegrationFixture, _ arguments: [String], environment: [String: String]) async throws
        -> Terminal
    {
        let socket = "paddock-\(fixture.id)-\(UInt32.random(in: 0...UInt32.max))"
        var extra = environment
        extra["TERM"] = "xterm-256color"
        let command = fixture.paddockCommand(arguments, environment: extra)
        // Keep the pane after paddock exits, so its last words (the resume hint) can be read.
        let shellLine = (command.argv.map(Terminal.quoted) + ["; echo paddock-exited-$?; sleep 600"]).joined(
            separator: " ")
        let terminal = Terminal(socket: socket)
        let start = Command(
            "tmux", ["-L", socket, "new-session", "-d", "-x", "150", "-y", "45", "-c", fixture.project, shellLine])
        try await terminal.runner.capture(start).check(start)
        return terminal
    }

    init(socket: String) { self.socket = socket }

    static func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    func screen() async throws -> String {
        let capture = Command("tmux", ["-L", socket, "capture-pane", "-p", "-J", "-S", "-200"])
        return try await runner.capture(capture).stdout
    }

    func send(_ keys: String...) async throws {
        let command = Command("tmux", ["-L", socket, "send-keys"] + keys)
        try await runner.capture(command).check(command)
    }

    func title() async throws -> String {
        let command = Command("tmux", ["-L", socket, "display-message", "-p", "#{pane_title}"])
        return try await runner.capture(command).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Waits until the screen (or what `read` reads) satisfies `condition`; returns the last reading either way.
    @discardableResult
    func waitFor(
        timeout: Double = 60, read: (() async throws -> String)? = nil, _ condition: (String) -> Bool
    ) async throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        var text = ""
        while Date() < deadline {
            text = try await (read ?? screen)()
            if condition(text) { return text }
            try await Task.sleep(for: .milliseconds(300))
        }
        return text
    }

    struct Outcome {
        var reached = false
        var screen = ""
        var paddockPrompts: [String] = []
        var userPrompts: [String] = []
        /// The screens answered, for the failure message.
        var answeredScreens: [String] = []
    }

    /// Drives Claude's start until its input prompt shows. Prompts that are paddock's business (trust, bypass)
    /// are recorded and never answered; the user's own are answered with the choice a user makes to go on.
    func reachClaudePrompt(answeringUserPrompts: Bool, timeout: Double = 120) async throws -> Outcome {
        var outcome = Outcome()
        let deadline = Date().addingTimeInterval(timeout)
        var answered: [String: Int] = [:]
        while Date() < deadline {
            let text = try await screen()
            outcome.screen = text
            let lower = text.lowercased()
            if lower.contains("unable to connect") || lower.contains("err_proxy_tunnel")
                || text.contains("paddock-exited-")
            {
                return outcome
            }
            if lower.contains("trust this folder") || lower.contains("trust the files") {
                outcome.paddockPrompts.append("trust")
                return outcome
            }
            if lower.contains("bypass permissions mode") && lower.contains("no, exit") {
                outcome.paddockPrompts.append("bypass")
                return outcome
            }
            let userPrompt: (String, [String])? =
                if lower.contains("choose the text style")
                    || lower.contains("dark mode") && lower.contains("light mode")
                {
                    ("theme", ["Enter"])
                } else if lower.contains("use this api key") {
                    ("api key", ["Up", "Enter"])
                } else if lower.contains("security notes") || lower.contains("press enter to continue") {
                    ("notes", ["Enter"])
                } else if lower.contains("terminal setup") || lower.contains("use claude code's terminal") {
                    ("terminal setup", ["Escape"])
                } else {
                    nil
                }
            if let (name, keys) = userPrompt {
                if !outcome.userPrompts.contains(name) { outcome.userPrompts.append(name) }
                guard answeringUserPrompts else { return outcome }
                // One answer per screen; a prompt that stays after several answers is a failure to report.
                answered[name, default: 0] += 1
                if answered[name, default: 0] > 5 { return outcome }
                for key in keys { try await send(key) }
                try await Task.sleep(for: .milliseconds(800))
                continue
            }
            if text.contains("? for shortcuts") || lower.contains("bypass permissions on") {
                outcome.reached = true
                return outcome
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        return outcome
    }

    /// Drives Codex's start until its composer shows, answering what a user answers to go on.
    func reachCodexPrompt(timeout: Double = 90) async throws -> Outcome {
        var outcome = Outcome()
        let deadline = Date().addingTimeInterval(timeout)
        var answers = 0
        while Date() < deadline {
            let text = try await screen()
            outcome.screen = text
            let lower = text.lowercased()
            if text.contains("paddock-exited-") { return outcome }
            if lower.contains("trust the") || lower.contains("allow codex to work in this folder")
                || lower.contains("sign in with chatgpt")
                || lower.contains("press enter to continue")
            {
                let name = lower.contains("sign in") ? "login" : lower.contains("trust") ? "trust" : "continue"
                if !outcome.userPrompts.contains(name) { outcome.userPrompts.append(name) }
                answers += 1
                if answers > 8 { return outcome }
                outcome.answeredScreens.append(text)
                // The login is the user's: this user has an API key, and picks the option that uses it.
                let keyOption = text.split(separator: "\n").map { $0.drop { $0 == " " || $0 == ">" } }
                    .first { $0.first?.isNumber == true && $0.lowercased().contains("api key") }?.first
                if name == "login", let keyOption {
                    try await send(String(keyOption))
                    try await Task.sleep(for: .milliseconds(500))
                }
                try await send("Enter")
                try await Task.sleep(for: .milliseconds(800))
                continue
            }
            if lower.contains("context left") || text.contains("? for shortcuts") || lower.contains("% left") {
                outcome.reached = true
                return outcome
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        return outcome
    }

    func exitClaude() async throws {
        try await send("/exit")
        try await Task.sleep(for: .milliseconds(300))
        try await send("Enter")
        try await waitFor(timeout: 30) { $0.contains("paddock-exited-") }
    }

    /// Synchronous, for `defer`: ends the tmux server and with it paddock, whose launcher removes the sandbox.
    func close() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["tmux", "-L", socket, "kill-server"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
    }
}
