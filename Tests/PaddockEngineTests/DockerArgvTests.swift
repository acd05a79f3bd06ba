import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

@testable import PaddockEngine

@Suite("docker argv: the hardening is a security property")
struct DockerArgvTests {
    func spec(tty: Bool = false, memory: UInt64? = 1 << 30, cpus: Double? = 2) -> ContainerSpec {
        ContainerSpec(
            name: "paddock-app-20261121-0521-k3f9", image: "paddock-claude:abc",
            labels: ["paddock.session": "20261121-0521-k3f9"], user: SandboxUser(uid: 1234, gid: 5678),
            mounts: [
                .bind("/home/u/app", at: "/workspace", readOnly: false),
                .volume("paddock-home-app-1", at: "/home/agent"),
                .bind("/home/u/.claude/CLAUDE.md", at: "/home/agent/.claude/CLAUDE.md", readOnly: true),
            ],
            environment: ["IS_SANDBOX": "1"], passthroughEnvironment: ["ANTHROPIC_API_KEY"], cpus: cpus, memory: memory,
            pidsLimit: 4096, tty: tty, command: ["claude", "--dangerously-skip-permissions"])
    }

    /// Finds `flag value` pairs in argv before the image.
    func value(of flag: String, in argv: [String]) -> [String] {
        let options = argv.prefix(while: { $0 != "--" })
        return options.indices.filter { options[$0] == flag && $0 + 1 < options.endIndex }.map { options[$0 + 1] }
    }

    @Test func exactArgv() {
        let argv = DockerEngine.runArguments(spec())
        #expect(
            argv == [
                "run", "--rm", "--name", "paddock-app-20261121-0521-k3f9", "--hostname", "paddock",
                "--label", "paddock.session=20261121-0521-k3f9", "--interactive",
                "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--user", "1234:5678", "--init", "--pids-limit", "4096", "--pull", "never", "--memory", "1073741824",
                "--cpus", "2.0",
                "--mount", "type=bind,src=/home/u/app,dst=/workspace",
                "--mount", "type=volume,src=paddock-home-app-1,dst=/home/agent",
                "--mount", "type=bind,src=/home/u/.claude/CLAUDE.md,dst=/home/agent/.claude/CLAUDE.md,readonly",
                "--env", "IS_SANDBOX=1", "--env", "ANTHROPIC_API_KEY",
                "--workdir", "/workspace", "--", "paddock-claude:abc", "claude", "--dangerously-skip-permissions",
            ])
    }

    @Test func offlineByDefault() {
        #expect(value(of: "--network", in: DockerEngine.runArguments(spec())) == ["none"])
    }

    @Test func everyCapabilityDropped() {
        #expect(value(of: "--cap-drop", in: DockerEngine.runArguments(spec())) == ["ALL"])
        #expect(value(of: "--cap-add", in: DockerEngine.runArguments(spec())).isEmpty)
    }

    @Test func noNewPrivileges() {
        #expect(value(of: "--security-opt", in: DockerEngine.runArguments(spec())) == ["no-new-privileges"])
    }

    @Test func runsAsTheHostUser() {
        #expect(value(of: "--user", in: DockerEngine.runArguments(spec())) == ["1234:5678"])
    }

    @Test func initReapsAndForwardsSignals() {
        #expect(DockerEngine.runArguments(spec()).prefix(while: { $0 != "--" }).contains("--init"))
    }

    @Test func limits() {
        let argv = DockerEngine.runArguments(spec())
        #expect(value(of: "--pids-limit", in: argv) == ["4096"])
        #expect(value(of: "--memory", in: argv) == ["1073741824"])
        #expect(value(of: "--cpus", in: argv) == ["2.0"])
        let unlimited = DockerEngine.runArguments(spec(memory: nil, cpus: nil))
        #expect(value(of: "--memory", in: unlimited).isEmpty)
        #expect(value(of: "--cpus", in: unlimited).isEmpty)
    }

    @Test func neverPrivilegedNorTheEngineSocket() {
        let argv = DockerEngine.runArguments(spec())
        #expect(!argv.contains("--privileged"))
        #expect(!argv.contains { $0.contains("docker.sock") })
        #expect(!argv.contains { $0.hasPrefix("--volumes-from") || $0 == "--pid" || $0 == "--ipc" })
    }

    @Test func secretsNeverAppearInArgv() {
        let argv = DockerEngine.runArguments(spec())
        #expect(value(of: "--env", in: argv).contains("ANTHROPIC_API_KEY"))
        #expect(!argv.contains { $0.hasPrefix("ANTHROPIC_API_KEY=") })
    }

    @Test func ttyOnlyWhenAsked() {
        #expect(!DockerEngine.runArguments(spec(tty: false)).contains("--tty"))
        #expect(DockerEngine.runArguments(spec(tty: true)).contains("--tty"))
    }

    @Test func imageCannotBeReadAsAFlag() throws {
        let argv = DockerEngine.runArguments(spec())
        let separator = try #require(argv.firstIndex(of: "--"))
        #expect(argv[separator + 1] == "paddock-claude:abc")
    }

    @Test func mountFieldsWithCommasAreQuoted() {
        let mount = Mount.bind("/home/u/a,b\"c", at: "/mnt/x", readOnly: true)
        #expect(DockerEngine.mountArgument(mount) == "type=bind,\"src=/home/u/a,b\"\"c\",dst=/mnt/x,readonly")
    }

    @Test func buildArgv() {
        let request = ImageBuildRequest(
            contextDirectory: "/s/build/h", tag: "paddock-claude:h", labels: ["paddock.context-sha256": "h"],
            noCache: true, pull: true)
        #expect(
            DockerEngine.buildArguments(request) == [
                "build", "--force-rm", "--tag", "paddock-claude:h", "--file", "/s/build/h/Dockerfile",
                "--label", "paddock.context-sha256=h", "--no-cache", "--pull", "/s/build/h",
            ])
    }

    @Test func imageLabelAsksTheEngineOnceWhenTheImageExists() async throws {
        let runner = RecordingRunner { command in
            ProcessOutput(status: 0, stdout: "{\"paddock.context-sha256\":\"h1\"}\n", stderr: "")
        }
        let engine = DockerEngine(runner: runner)
        #expect(try await engine.imageLabel("paddock-claude:h", label: "paddock.context-sha256") == "h1")
        #expect(
            runner.commands.map(\.argv) == [
                ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", "--", "paddock-claude:h"]
            ])
    }

    @Test func missingImageIsNilButABrokenEngineIsAnError() async throws {
        let missing = RecordingRunner { command in
            command.arguments.first == "image" && command.arguments[1] == "inspect"
                ? ProcessOutput(status: 1, stdout: "", stderr: "whatever")
                : ProcessOutput(status: 0, stdout: "", stderr: "")
        }
        #expect(try await DockerEngine(runner: missing).imageLabel("x:y", label: "l") == nil)
        let broken = RecordingRunner { _ in ProcessOutput(status: 1, stdout: "", stderr: "Cannot connect") }
        await #expect(throws: PaddockError.self) {
            try await DockerEngine(runner: broken).imageLabel("x:y", label: "l")
        }
    }

    @Test func engineFlavours() throws {
        #expect(
            try DockerEngine.parseInfo(
                #"{"OperatingSystem":"Docker Desktop","ServerVersion":"27.0"}"#, executable: "docker"
            ).flavor == "Docker Desktop")
        #expect(
            try DockerEngine.parseInfo(
                #"{"OperatingSystem":"Ubuntu","Name":"colima","ServerVersion":"27.0"}"#, executable: "docker"
            ).flavor == "Colima")
        #expect(
            try DockerEngine.parseInfo(#"{"OperatingSystem":"OrbStack","ServerVersion":"27.0"}"#, executable: "docker")
                .flavor == "OrbStack")
        #expect(
            try DockerEngine.parseInfo(#"{"OperatingSystem":"Debian","ServerVersion":"20.10"}"#, executable: "docker")
                .flavor == "Docker Engine")
        #expect(throws: PaddockError.self) { try DockerEngine.parseInfo("nope", executable: "docker") }
    }

    @Test func inspectOutputBecomesSummaries() {
        let json =
            #"[{"Id":"abc","Name":"/paddock-app-1","State":{"Status":"running"},"Config":{"Labels":{"paddock.session":"20261121-0521-k3f9","paddock.project":"/a,b"}}}]"#
        let parsed = DockerEngine.parseInspect(json)
        #expect(
            parsed == [
                ContainerSummary(
                    name: "paddock-app-1", id: "abc", state: "running", status: "",
                    labels: ["paddock.session": "20261121-0521-k3f9", "paddock.project": "/a,b"])
            ])
    }
}

/// Docker gets paddock's own profile (AF_VSOCK refused, namespaces as Docker's) where containers-common's file
/// is there to derive it from; elsewhere its built-in one stays.
@Suite("docker seccomp profile")
struct DockerSeccompTests {
    let spec = ContainerSpec(
        name: "paddock-app-s", image: "img", labels: [:], user: SandboxUser(uid: 1000, gid: 1000), mounts: [],
        environment: [:],
        passthroughEnvironment: [], cpus: nil, memory: nil, pidsLimit: 4096, command: ["true"])

    @Test func derivedProfileWhenTheDefaultIsThere() async throws {
        let state = NSTemporaryDirectory() + "paddock-seccomp-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: state) }
        let base = state + "/default.json"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try Data(
            #"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","socket"],"action":"SCMP_ACT_ALLOW"}]}"#
                .utf8
        )
        .write(to: URL(fileURLWithPath: base))
        let runner = RecordingRunner()
        _ = try await DockerEngine(runner: runner, stateDirectory: state, defaultSeccompProfile: base).run(spec)
        let argv = try #require(runner.commands.first?.argv)
        let option = try #require(argv.firstIndex { $0.hasPrefix("seccomp=\(state)/docker/seccomp-") })
        #expect(argv[option - 1] == "--security-opt")
        let path = String(argv[option].dropFirst("seccomp=".count))
        let written = try #require(FileManager.default.contents(atPath: path))
        #expect(String(decoding: written, as: UTF8.self).contains("SCMP_CMP_EQ"))
        // The next start finds it made: the same file, not derived again (a planted change would show here).
        try Data("kept".utf8).write(to: URL(fileURLWithPath: path))
        let again = RecordingRunner()
        _ = try await DockerEngine(runner: again, stateDirectory: state, defaultSeccompProfile: base).run(spec)
        #expect(again.commands.first?.argv.contains(argv[option]) == true)
        #expect(FileManager.default.contents(atPath: path) == Data("kept".utf8))
        // A changed default is a new file.
        try Data(#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["write"],"action":"SCMP_ACT_ALLOW"}]}"#.utf8)
            .write(to: URL(fileURLWithPath: base))
        let changed = RecordingRunner()
        _ = try await DockerEngine(runner: changed, stateDirectory: state, defaultSeccompProfile: base).run(spec)
        #expect(changed.commands.first?.argv.contains(argv[option]) == false)

        // Without the file to derive from, the fallback to Docker's own profile is said, not silent.
        #expect(DockerEngine(runner: runner, stateDirectory: state, defaultSeccompProfile: base).limitations.isEmpty)
        let missing = DockerEngine(
            runner: runner, stateDirectory: state, defaultSeccompProfile: state + "/missing.json")
        #expect(missing.limitations.count == 1)
        #expect(missing.limitations.first?.contains("built-in seccomp profile") == true)

        let without = RecordingRunner()
        _ = try await DockerEngine(
            runner: without, stateDirectory: state, defaultSeccompProfile: state + "/missing.json"
        ).run(spec)
        #expect(!(without.commands.first?.argv ?? []).contains { $0.hasPrefix("seccomp=") })
    }
}

@Suite("The gateway relay's engine commands")
struct RelayArgvTests {
    @Test func theRelayRunsAttachedOnTheHostNetworkWithTheHardeningFlags() throws {
        let plan = RelayPlan.make(
            session: try #require(SessionID("20261121-0521-k3f9")), image: "paddock-shell:abc", route: .hostNetwork,
            port: 40123, launcherPID: 77, launcherStart: "t0")
        #expect(
            DockerEngine.runArguments(plan.container) == [
                "run", "--rm", "--name", "paddock-relay-20261121-0521-k3f9", "--hostname", "paddock-relay",
                "--label", "paddock.launcher-pid=77", "--label", "paddock.launcher-start=t0",
                "--label", "paddock.relay=20261121-0521-k3f9", "--interactive", "--network", "host",
                "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "0:0", "--init", "--pids-limit",
                "1024", "--pull", "never",
                "--memory", "67108864",
                "--mount", "type=volume,src=paddock-relay-20261121-0521-k3f9,dst=/run/paddock",
                "--workdir", "/", "--", "paddock-shell:abc",
                "sh", "-c", "socat \"$@\" & read _; kill $!", "paddock-relay", "-b", "131072",
                "UNIX-LISTEN:/run/paddock/gateway.sock,fork,perm=0666,unlink-early", "TCP:127.0.0.1:40123",
            ])
        // Rootless Podman: the relay is the container's root (the host user), not keep-id.
        #expect(!PodmanEngine.runArguments(plan.container, rootless: true).contains("--userns=keep-id"))
        #expect(
            DockerEngine.volumeCreateArguments(plan.volume, labels: plan.labels) == [
                "volume", "create", "--label", "paddock.launcher-pid=77", "--label", "paddock.launcher-start=t0",
                "--label", "paddock.relay=20261121-0521-k3f9", "--", "paddock-relay-20261121-0521-k3f9",
            ])
        #expect(
            DockerEngine.mountArgument(.volume("v", at: "/run/paddock", readOnly: true))
                == "type=volume,src=v,dst=/run/paddock,ro")
        // A name the engine could read as an option stays a name.
        #expect(DockerEngine.volumeRemoveArguments(["-v", "x"]) == ["volume", "rm", "--force", "--", "-v", "x"])
        #expect(
            DockerEngine.volumeListArguments(label: "paddock.relay")
                == ["volume", "ls", "--filter", "label=paddock.relay", "--format", "json"])
    }

    @Test func volumeListingsOfBothEnginesParse() {
        let docker = #"{"Driver":"local","Labels":"paddock.relay=s1,paddock.launcher-pid=7","Name":"paddock-relay-s1"}"#
        #expect(
            DockerEngine.parseVolumes(docker) == [
                VolumeSummary(name: "paddock-relay-s1", labels: ["paddock.relay": "s1", "paddock.launcher-pid": "7"])
            ])
        let podman = #"[{"Name":"paddock-relay-s2","Driver":"local","Labels":{"paddock.relay":"s2"}}]"#
        #expect(
            DockerEngine.parseVolumes(podman) == [
                VolumeSummary(name: "paddock-relay-s2", labels: ["paddock.relay": "s2"])
            ])
        #expect(DockerEngine.parseVolumes("").isEmpty)
    }

    @Test func aMacsEnginesAreNamedFromTheirInfo() throws {
        let desktop = try DockerEngine.parseInfo(
            #"{"OperatingSystem":"Docker Desktop","Name":"docker-desktop","ServerVersion":"27.0"}"#,
            executable: "docker", hostIsMac: true)
        #expect(desktop.product == .dockerDesktop)
        let rancher = try DockerEngine.parseInfo(
            #"{"OperatingSystem":"Alpine","Name":"lima-rancher-desktop","ServerVersion":"27.0"}"#, executable: "docker",
            hostIsMac: true)
        #expect(rancher.product == .rancherDesktop)
        #expect(rancher.flavor == "Rancher Desktop")
        let linux = try DockerEngine.parseInfo(
            #"{"OperatingSystem":"Debian","Name":"h","ServerVersion":"20.10"}"#, executable: "docker", hostIsMac: false)
        #expect(linux.product == .dockerEngine && linux.flavor == "Docker Engine")
        let machine = try PodmanEngine.parseInfo(
            #"{"host":{"serviceIsRemote":true,"os":"linux"},"version":{"Version":"5.2"}}"#, hostIsMac: true)
        #expect(machine.product == .podmanMachine)
    }
}

/// Any local user reads every process's argv (`ps`, /proc/PID/cmdline): the relay's secret must never be in the
/// engine CLI's argv, only in its environment, whence `--env NAME` copies it into the sandbox.
@Suite("The relay secret stays out of argv")
struct RelaySecretArgvTests {
    func relaySession() throws -> ContainerSpec {
        var request = SessionRequest(
            sessionID: try #require(SessionID("20261121-0521-k3f9")), projectRoot: "/home/u/app",
            workspaceSource: "/home/u/app", hostHome: "/home/u",
            hostUID: 1234, hostGID: 1234, launcherPID: 1, config: PaddockConfig(), profile: .shell,
            userArguments: ["make"], imageTag: "i",
            paths: PaddockPaths(
                home: "/home/u", configDirectory: "/home/u/.config/paddock",
                stateDirectory: "/home/u/.local/state/paddock"))
        request.gateway = GatewayAttachment(
            transport: .relay, source: "v", credential: ProxyCredential(secret: "topsecret0123"))
        return try SessionPlanner.plan(request) { _ in false }
    }

    @Test func noEngineWritesTheSecretIntoArgv() throws {
        let spec = try relaySession()
        let argvs = [
            DockerEngine.runArguments(spec), PodmanEngine.runArguments(spec, rootless: true),
            try AppleContainerEngine.runArguments(spec),
        ]
        for argv in argvs {
            #expect(!argv.joined(separator: " ").contains("topsecret0123"), "\(argv)")
            #expect(argv.contains("HTTP_PROXY") && argv.contains("ALL_PROXY") && argv.contains("PADDOCK_PROXY_AUTH"))
        }
        let command = DockerEngine(runner: RecordingRunner()).runCommand(spec, engineOptions: [])
        #expect(command.environment["HTTP_PROXY"] == "http://paddock:topsecret0123@127.0.0.1:3128")
    }
}
