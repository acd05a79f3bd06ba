import Foundation
import PaddockCore
import Testing

@Suite("Session plan: mounts, refusals, environment")
struct SessionPlanTests {
    let paths = PaddockPaths(
        home: "/home/u", configDirectory: "/home/u/.config/paddock", stateDirectory: "/home/u/.local/state/paddock")
    let id = SessionID("20261121-0521-k3f9")

    func request(
        config: PaddockConfig = PaddockConfig(), profile: AgentProfile = .claude, env: [String: String] = [:],
        dangerous: Bool = false, project: String = "/home/u/code/My App"
    ) throws -> SessionRequest {
        SessionRequest(
            sessionID: try #require(id), projectRoot: project, workspaceSource: project, hostHome: "/home/u",
            hostUID: 1234, hostGID: 5678,
            launcherPID: 42, config: config, profile: profile, userArguments: ["-c"], allowDangerousMounts: dangerous,
            imageTag: "paddock-claude:abc", hostEnvironment: env, paths: paths)
    }

    @Test func projectAtWorkspaceAndHomeVolume() throws {
        let spec = try SessionPlanner.plan(try request()) { _ in false }
        #expect(spec.mounts.first == .bind("/home/u/code/My App", at: "/workspace", readOnly: false))
        #expect(spec.mounts[1].kind == .volume)
        #expect(spec.mounts[1].target == "/home/agent")
        #expect(spec.mounts[1].source.hasPrefix("paddock-home-my-app-"))
        #expect(spec.name == "paddock-my-app-20261121-0521-k3f9")
        #expect(spec.user.uid == 1234 && spec.user.gid == 5678)
        #expect(Array(spec.command.suffix(3)) == ["claude", "--dangerously-skip-permissions", "-c"])
        #expect(spec.labels[SessionLabels.session] == "20261121-0521-k3f9")
        #expect(spec.labels[SessionLabels.project] == "/home/u/code/My App")
        #expect(spec.labels[SessionLabels.launcherPID] == "42")
        #expect(spec.network == .none)
    }

    @Test func claudeSettingsAreMountedReadOnlyWhenPresent() throws {
        let present: Set<String> = ["/home/u/.claude/CLAUDE.md", "/home/u/.claude/commands"]
        let spec = try SessionPlanner.plan(try request()) { present.contains($0) }
        #expect(
            Array(spec.mounts.dropFirst(2)) == [
                .bind("/home/u/.claude/CLAUDE.md", at: "/home/agent/.claude/CLAUDE.md", readOnly: true),
                .bind("/home/u/.claude/commands", at: "/home/agent/.claude/commands", readOnly: true),
            ])
    }

    @Test func allFourClaudeFilesGoOnlyToClaude() throws {
        let claude = try SessionPlanner.plan(try request()) { _ in true }
        #expect(
            Array(claude.mounts.dropFirst(2)) == ["CLAUDE.md", "commands", "agents"].map {
                .bind("/home/u/.claude/\($0)", at: "/home/agent/.claude/\($0)", readOnly: true)
            } + [.bind("/home/u/.claude/settings.json", at: "/etc/paddock/claude/settings.json", readOnly: true)])
        for other in [AgentProfile.shell, .codex, .gemini] {
            let spec = try SessionPlanner.plan(try request(profile: other)) { _ in true }
            #expect(spec.mounts.count == 2, "\(other.name) gets the project and its home only")
        }
    }

    /// The issue: the host's settings.json mounted read-only over ~/.claude/settings.json broke Claude's own writes
    /// there (it asked about bypass mode in every session). Nothing read-only lies over that file now; the host's
    /// file reaches Claude read-only as its `--settings` layer, named only when it exists.
    @Test func hostClaudeSettingsAreALayerAndClaudesOwnFileStaysWritable() throws {
        let with = try SessionPlanner.plan(try request()) { $0 == "/home/u/.claude/settings.json" }
        #expect(!with.mounts.contains { $0.target == "/home/agent/.claude/settings.json" })
        #expect(
            with.mounts.contains(
                .bind("/home/u/.claude/settings.json", at: "/etc/paddock/claude/settings.json", readOnly: true)))
        #expect(
            Array(with.command.suffix(5)) == [
                "claude", "--dangerously-skip-permissions", "--settings", "/etc/paddock/claude/settings.json", "-c",
            ])
        let without = try SessionPlanner.plan(try request()) { _ in false }
        #expect(!without.command.contains("--settings"))
    }

    /// Trusting /workspace is paddock's business: Claude starts through a setup that records the trust in its own
    /// ~/.claude.json, then execs Claude with the argv unchanged.
    @Test func claudeStartsAfterRecordingTrustInItsHome() throws {
        let spec = try SessionPlanner.plan(try request()) { _ in false }
        #expect(Array(spec.command.prefix(2)) == ["/bin/sh", "-c"])
        #expect(spec.command[2].contains(#"jq '.projects["/workspace"].hasTrustDialogAccepted = true'"#))
        #expect(spec.command[2].hasSuffix("\nexec \"$@\""))
        #expect(
            Array(spec.command.dropFirst(3)) == ["paddock-setup", "claude", "--dangerously-skip-permissions", "-c"])
        let codex = try SessionPlanner.plan(try request(profile: .codex)) { _ in false }
        #expect(codex.command == ["codex", "--dangerously-bypass-approvals-and-sandbox", "-c"])
    }

    /// A socket reaches whatever listens on it, from inside the sandbox too: an ssh-agent signs with the user's keys,
    /// an engine socket is the host. A folder holding one is refused; the project itself is not searched.
    @Test func aMountHoldingASocketIsRefused() throws {
        var config = PaddockConfig()
        config.mounts = [MountConfig(path: "~/tmp")]
        let socket = "/home/u/tmp/ssh-XXXX/agent.42"
        let findSocket: (String) -> String? = { $0 == "/home/u/tmp" ? socket : nil }
        let error = #expect(throws: PaddockError.self) {
            try SessionPlanner.plan(try request(config: config), socketInside: findSocket) { _ in true }
        }
        guard case .dangerousMount(let path, let reason) = error else {
            Issue.record("expected a refusal, got \(String(describing: error))")
            return
        }
        #expect(path == "/home/u/tmp")
        #expect(reason.contains(socket))
        let insisted = try SessionPlanner.plan(try request(config: config, dangerous: true), socketInside: findSocket) {
            _ in true
        }
        #expect(insisted.mounts.contains(.bind("/home/u/tmp", at: "/mnt/tmp", readOnly: true)))
        let projectSocket = try SessionPlanner.plan(try request(profile: .shell), socketInside: { _ in socket }) {
            _ in true
        }
        #expect(projectSocket.mounts.first == .bind("/home/u/code/My App", at: "/workspace", readOnly: false))
    }

    @Test(arguments: [
        "/", "~", "~/.ssh", "~/.ssh/id_ed25519", "~/.aws", "~/.gnupg", "~/.config/gcloud", "~/.kube", "~/.docker",
        "/var/run/docker.sock", "/run/podman/podman.sock", "/home", "~/.config/paddock", "~/.local/state/paddock/trust",
        "/run/user/1000/docker.sock", "~/.local", "~/.colima", "~/.orbstack/run/docker.sock", "~/.rd/docker.sock",
        "~/.lima/default/sock", "~/Library/Containers/com.docker.docker", "~/.local/share/docker",
    ])
    func dangerousMountsAreRefused(path: String) throws {
        var config = PaddockConfig()
        config.mounts = [MountConfig(path: path)]
        let error = #expect(throws: PaddockError.self) {
            try SessionPlanner.plan(try request(config: config)) { _ in true }
        }
        guard case .dangerousMount = error else {
            Issue.record("\(path): expected a refusal, got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("--allow-dangerous-mounts") == true)
    }

    @Test func theOverrideLetsTheUserInsist() throws {
        var config = PaddockConfig()
        config.mounts = [MountConfig(path: "~/.ssh")]
        let spec = try SessionPlanner.plan(try request(config: config, dangerous: true)) { _ in true }
        #expect(spec.mounts.contains(.bind("/home/u/.ssh", at: "/mnt/.ssh", readOnly: true)))
    }

    @Test func extraMountsAreReadOnlyUnlessRw() throws {
        var config = PaddockConfig()
        config.mounts = [
            MountConfig(path: "~/data"), MountConfig(path: "/srv/cache", target: "/cache", readWrite: true),
        ]
        let spec = try SessionPlanner.plan(try request(config: config)) { _ in true }
        #expect(spec.mounts.contains(.bind("/home/u/data", at: "/mnt/data", readOnly: true)))
        #expect(spec.mounts.contains(.bind("/srv/cache", at: "/cache", readOnly: false)))
    }

    @Test func missingExtraMountIsAnError() throws {
        var config = PaddockConfig()
        config.mounts = [MountConfig(path: "/nope")]
        #expect(throws: PaddockError.self) { try SessionPlanner.plan(try request(config: config)) { _ in false } }
    }

    @Test(arguments: ["/", "/workspace", "/home/agent", "/x/../workspace"])
    func mountTargetsThatWouldHideTheSandboxAreRefused(target: String) throws {
        var config = PaddockConfig()
        config.mounts = [MountConfig(path: "/srv", target: target)]
        #expect(throws: PaddockError.self) { try SessionPlanner.plan(try request(config: config)) { _ in true } }
    }

    @Test func credentialsPassByNameOnlyAndOnlyWhenSet() throws {
        var config = PaddockConfig()
        config.env = ["GITHUB_TOKEN", "UNSET_ONE"]
        let env = ["ANTHROPIC_API_KEY": "sk-secret", "GITHUB_TOKEN": "ghp", "OPENAI_API_KEY": "nope"]
        let spec = try SessionPlanner.plan(try request(config: config, env: env)) { _ in false }
        // The agent's key is the gateway's to add: never passed, even with no placeholder set for it.
        #expect(spec.passthroughEnvironment == ["GITHUB_TOKEN"])
        #expect(!spec.environment.values.contains("sk-secret"))
        #expect(spec.environment["IS_SANDBOX"] == "1")
        #expect(spec.environment["DISABLE_AUTOUPDATER"] == "1")
    }

    @Test func rootOnTheHostIsAnOrdinaryUserInside() {
        #expect(ImageRecipe.sandboxUser(hostUID: 0, hostGID: 0) == SandboxUser(uid: 1000, gid: 1000))
        #expect(ImageRecipe.sandboxUser(hostUID: 501, hostGID: 20) == SandboxUser(uid: 501, gid: 20))
    }

    @Test func resourcesComeFromConfigWithAPidsDefault() throws {
        var config = PaddockConfig()
        config.resources = ResourceConfig(cpus: 2, memory: 1 << 30, pids: nil)
        let spec = try SessionPlanner.plan(try request(config: config)) { _ in false }
        #expect(spec.cpus == 2)
        #expect(spec.memory == 1 << 30)
        #expect(spec.pidsLimit == SessionPlanner.defaultPidsLimit)
    }

    /// Standard input is forwarded whenever it can give something: a terminal, a pipe, a file. Only a closed
    /// stdin or the null device goes without `--interactive`, which then has nothing to carry.
    @Test(arguments: [(false, false, true), (false, true, false), (true, false, true), (true, true, true)])
    func standardInputIsForwardedUnlessItReadsNothing(terminal: Bool, readsNothing: Bool, interactive: Bool) throws {
        var request = try request()
        request.stdinIsTerminal = terminal
        request.stdinReadsNothing = readsNothing
        let spec = try SessionPlanner.plan(request) { _ in false }
        #expect(spec.interactive == interactive)
        #expect(spec.tty == terminal)
    }

    @Test func shellAgentRunsTheGivenCommand() {
        #expect(AgentProfile.shell.argv(userArguments: ["make", "test"]) == ["make", "test"])
        #expect(AgentProfile.shell.argv(userArguments: []) == ["bash"])
        #expect(AgentProfile.codex.argv(userArguments: []) == ["codex", "--dangerously-bypass-approvals-and-sandbox"])
    }
}

@Suite struct SessionIDTests {
    @Test func sortsByTimeAndHasTheDocumentedShape() throws {
        var generator = SystemRandomNumberGenerator()
        let early = SessionID.make(at: Date(timeIntervalSince1970: 1_800_000_000), random: &generator)
        let late = SessionID.make(at: Date(timeIntervalSince1970: 1_800_000_120), random: &generator)
        #expect(early < late)
        #expect(early.rawValue.count == 20)
        #expect(early.rawValue.hasPrefix("20270115-080000-00"))
        #expect(SessionID(early.rawValue) == early)
    }

    /// The issue: three sessions started in one minute, and ids sorted by minute then by a random suffix, so "the
    /// latest" was whichever drew the largest suffix. Random draws that favour the earlier sessions must not matter.
    @Test func sessionsOfOneMinuteSortInTheOrderTheyStarted() throws {
        struct Descending: RandomNumberGenerator {
            var state: UInt64 = .max
            mutating func next() -> UInt64 {
                defer { state = state &- (1 << 60) }
                return state
            }
        }
        var random = Descending()
        let starts = [1_800_000_000.0, 1_800_000_000.01, 1_800_000_000.52, 1_800_000_007.3, 1_800_000_059.99]
        let ids = starts.map { SessionID.make(at: Date(timeIntervalSince1970: $0), random: &random) }
        #expect(ids.sorted() == ids, "\(ids)")
        #expect(ids.map(\.rawValue).sorted() == ids.map(\.rawValue), "string order is start order too (ls, sort)")
        #expect(Set(ids.map { $0.rawValue.prefix(13) }).count == 1, "all in one minute: \(ids)")
    }

    /// Records written before the new shape keep working: accepted, and ordered as the start of their minute.
    @Test func olderIdsAreAcceptedAndSortAtTheStartOfTheirMinute() throws {
        let old = try #require(SessionID("20270115-0800-zzzz"))
        var generator = SystemRandomNumberGenerator()
        let sameMinute = SessionID.make(at: Date(timeIntervalSince1970: 1_800_000_000), random: &generator)
        let minuteBefore = try #require(SessionID("20270115-075959-99zz"))
        #expect(minuteBefore < old && old < sameMinute)
        #expect(try #require(SessionID("20270115-0801-0000")) > sameMinute)
        let decoded = try JSONDecoder().decode([SessionID].self, from: Data(#"["20261121-0521-k3f9"]"#.utf8))
        #expect(decoded.map(\.rawValue) == ["20261121-0521-k3f9"])
    }

    /// `net log`, `exec` and `stop` with no id take this project's latest start, never another project's session
    /// and never a label that is not an id paddock made.
    @Test func latestIsTheLastStartOfThisProject() {
        let sets: [[String: String]] = [
            [SessionLabels.project: "/p", SessionLabels.session: "20270115-080000-41zz"],
            [SessionLabels.project: "/p", SessionLabels.session: "20270115-080000-42aa"],
            [SessionLabels.project: "/other", SessionLabels.session: "20270115-090000-00aa"],
            [SessionLabels.project: "/p", SessionLabels.session: "20270115-0800-zzzz"],
            [SessionLabels.project: "/p", SessionLabels.session: "29991231-235959-99zz/../x"],
            [SessionLabels.project: "/p"],
        ]
        #expect(SessionLabels.latest(of: "/p", among: sets) == 1)
        #expect(SessionLabels.latest(of: "/other", among: sets) == 2)
        #expect(SessionLabels.latest(of: "/none", among: sets) == nil)
    }

    @Test(arguments: [
        "", "-rf", "20261121-0521-K3F9", "20261121-0521-k3f", "../../etc", "20261121-0521-k3f9/x", "2026112a-0521-k3f9",
        "20261121-052133-4xk3", "20261121-052133-41K3", "20261121-052133-41k", "20261121-05213-341k3",
        "20261121-052133-41k3-", "20261121-052133-41k3\n",
    ])
    func rejectsAnythingElse(text: String) {
        #expect(SessionID(text) == nil)
    }

    @Test func slugsAreSafeNames() {
        #expect(ProjectNaming.slug(forProject: "/x/My App!") == "my-app")
        #expect(ProjectNaming.slug(forProject: "/x/---") == "project")
        #expect(ProjectNaming.slug(forProject: "/x/" + String(repeating: "a", count: 80)).count == 32)
        #expect(
            ProjectNaming.homeVolume(project: "/a/app", uid: 1) != ProjectNaming.homeVolume(project: "/b/app", uid: 1))
    }

    @Test func projectRootIsTheGitTopLevel() {
        let exists: Set<String> = ["/r/.git"]
        #expect(ProjectLocator.projectRoot(from: "/r/a/b") { exists.contains($0) } == "/r")
        #expect(ProjectLocator.projectRoot(from: "/s/a") { exists.contains($0) } == "/s/a")
    }
}

@Suite("The way to the gateway inside the sandbox")
struct GatewayAccessTests {
    let paths = PaddockPaths(
        home: "/home/u", configDirectory: "/home/u/.config/paddock", stateDirectory: "/home/u/.local/state/paddock")

    func plan(gateway: String?) throws -> ContainerSpec {
        let request = SessionRequest(
            sessionID: try #require(SessionID("20261121-0521-k3f9")), projectRoot: "/home/u/app",
            workspaceSource: "/home/u/app", hostHome: "/home/u",
            hostUID: 1234, hostGID: 1234, launcherPID: 1, config: PaddockConfig(), profile: .shell,
            userArguments: ["make", "test"], imageTag: "i", gatewayDirectory: gateway, paths: paths)
        return try SessionPlanner.plan(request) { _ in false }
    }

    @Test func theSocketFolderIsMountedReadOnlyAndTheProxyIsSet() throws {
        let spec = try plan(gateway: "/home/u/.local/state/paddock/sessions/x/gateway")
        #expect(
            spec.mounts.contains(
                .bind("/home/u/.local/state/paddock/sessions/x/gateway", at: "/run/paddock", readOnly: true)))
        #expect(spec.network == .none, "the gateway adds no network: the socket is the only door")
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
            #expect(spec.environment[name] == "http://127.0.0.1:3128")
        }
        #expect(spec.environment["ALL_PROXY"] == "socks5h://127.0.0.1:3128")
        #expect(spec.environment["NO_PROXY"] == "localhost,127.0.0.1,::1")
        #expect(spec.command.prefix(2) == ["/bin/sh", "-c"])
        #expect(spec.command.suffix(3) == ["paddock-entry", "make", "test"])
    }

    @Test func offlineHasNoSocketNoProxyAndTheBareCommand() throws {
        let spec = try plan(gateway: nil)
        #expect(!spec.mounts.contains { $0.target == "/run/paddock" })
        #expect(spec.environment["HTTP_PROXY"] == nil)
        #expect(spec.command == ["make", "test"])
    }

    @Test func theBridgeWaitsForItsOwnListenerAddress() {
        #expect(GatewayAccess.bridgeScript.contains("0100007F:0C38"))
        #expect(GatewayAccess.bridgeScript.contains("UNIX-CONNECT:/run/paddock/gateway.sock"))
        #expect(GatewayAccess.sshConfig.contains("ProxyCommand socat - PROXY:127.0.0.1:%h:%p,proxyport=3128"))
    }
}

@Suite("Can the agent write the project")
struct WorkspaceAccessTests {
    @Test func theOwnerNeedsTheOwnerBitAndOthersTheirs() {
        let folder = WorkspaceAccess(ownerUID: 1000, ownerGID: 1000, mode: 0o755)
        #expect(folder.isWritable(by: SandboxUser(uid: 1000, gid: 1000)))
        #expect(!folder.isWritable(by: SandboxUser(uid: 1001, gid: 1000)))
        #expect(
            WorkspaceAccess(ownerUID: 0, ownerGID: 1000, mode: 0o775).isWritable(by: SandboxUser(uid: 1000, gid: 1000)))
        #expect(
            WorkspaceAccess(ownerUID: 0, ownerGID: 0, mode: 0o777).isWritable(by: SandboxUser(uid: 1000, gid: 1000)))
        // The kernel looks at the owner's bits alone when the owner writes, even if others may.
        #expect(
            !WorkspaceAccess(ownerUID: 1000, ownerGID: 1000, mode: 0o577).isWritable(
                by: SandboxUser(uid: 1000, gid: 1000)))
    }

    @Test func rootsProjectGetsAWarningThatNamesTheWayOut() throws {
        let rootsProject = WorkspaceAccess(ownerUID: 0, ownerGID: 0, mode: 0o755)
        let warning = try #require(
            rootsProject.warning(
                path: "/srv/app", sandboxUser: ImageRecipe.sandboxUser(hostUID: 0, hostGID: 0), hostUID: 0))
        #expect(warning.contains("you run paddock as root, so the agent runs as uid 1000"))
        #expect(warning.contains("cannot write /srv/app (owner uid 0, mode 755)"))
        #expect(warning.contains("--isolate clone"))
    }

    @Test func aWritableProjectGetsNoWarning() {
        let alicesProject = WorkspaceAccess(ownerUID: 1000, ownerGID: 1000, mode: 0o755)
        #expect(
            alicesProject.warning(path: "/home/alice/app", sandboxUser: SandboxUser(uid: 1000, gid: 1000), hostUID: 0)
                == nil)
        #expect(
            alicesProject.warning(
                path: "/home/alice/app", sandboxUser: SandboxUser(uid: 1000, gid: 1000), hostUID: 1000) == nil)
    }

    @Test func aRealFolderIsReadAsTheKernelSeesIt() throws {
        let path = "/tmp/paddock-access-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(chmod(path, 0o750) == 0)
        let access = try #require(WorkspaceAccess.of(path))
        #expect(access == WorkspaceAccess(ownerUID: getuid(), ownerGID: getgid(), mode: 0o750))
        #expect(WorkspaceAccess.of(path + "/missing") == nil)
    }
}
