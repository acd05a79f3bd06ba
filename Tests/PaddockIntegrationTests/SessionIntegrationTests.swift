import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built `paddock` binary against the real engine, run as a user would run it.
@Suite("Sessions on the real engine", .serialized, .tags(.engine))
struct SessionIntegrationTests {
    @Test(arguments: TestEngine.allCases) func aSessionReturnsTheCommandsExitCode(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let result = try await fixture.paddock([
                "run", "--agent", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 7",
            ])
            #expect(result.status == 7)
            #expect(result.stdout.contains("out"))
            #expect(result.stderr.contains("err"))
            #expect(try await fixture.containers().isEmpty, "the container is removed when the agent exits")
        }
    }

    @Test(arguments: TestEngine.allCases) func theSandboxIsUnprivilegedAndOffline(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            // /proc/net/dev lists this network namespace's interfaces on every engine (bwrap has no /sys).
            let script =
                "id -u; id -g; grep CapEff /proc/self/status; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; grep NoNewPrivs /proc/self/status"
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "sh", "-c", script])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == String(fixture.sandboxUser.uid))
            #expect(lines.count > 1 && lines[1] == String(fixture.sandboxUser.gid))
            if fixture.user != nil || getuid() != 0 {
                #expect(lines.first == String(fixture.hostUID), "the sandbox user is the host user")
            }
            #expect(lines.contains("CapEff:\t0000000000000000"))
            #expect(lines.contains("NoNewPrivs:\t1"))
            let interfaces = lines.filter { !$0.contains(":") && Int($0) == nil }
            #expect(interfaces == ["lo"], "only the loopback interface exists")
        }
    }

    @Test(arguments: TestEngine.allCases) func noWayOutWithoutTheGateway(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            // Loopback inside the sandbox is its own: nothing listens there, and no other route exists.
            let script =
                "ip route 2>/dev/null; cat /proc/net/route | wc -l; getent hosts localhost >/dev/null && echo resolv-ok; (exec 3<>/dev/tcp/127.0.0.1/9) 2>/dev/null && echo connected || echo refused"
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "bash", "-c", script])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains("1"), "the routing table has only its header line: \(lines)")
            #expect(lines.last == "refused")
        }
    }

    @Test(arguments: TestEngine.allCases) func workspaceWritesLandOnTheHostWithTheHostsOwner(engine: TestEngine)
        async throws
    {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let result = try await fixture.paddock([
                "run", "--agent", "shell", "--", "sh", "-c", "echo hello > /workspace/made-inside.txt",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            let path = fixture.project + "/made-inside.txt"
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "hello\n")
            #expect(try fixture.ownerUID(of: path) == fixture.sandboxUser.uid)
            if fixture.user != nil || getuid() != 0 {
                #expect(try fixture.ownerUID(of: path) == fixture.hostUID)
            }
        }
    }

    @Test(arguments: TestEngine.allCases) func theHomeSurvivesIntoTheNextSession(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let first = try await fixture.paddock([
                "run", "--agent", "shell", "--", "sh", "-c",
                "mkdir -p ~/.claude && echo token > ~/.claude/.credentials.json && echo 'ls' >> ~/.bash_history",
            ])
            #expect(first.status == 0, "\(first.stderr)")
            let second = try await fixture.paddock([
                "run", "--agent", "shell", "--", "sh", "-c",
                "cat ~/.claude/.credentials.json ~/.bash_history; echo $HOME",
            ])
            #expect(second.status == 0, "\(second.stderr)")
            #expect(second.stdout == "token\nls\n/home/agent\n")
        }
    }

    @Test(arguments: TestEngine.allCases) func hostSecretsAreNotVisible(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let marker = "paddock-secret-\(fixture.id)"
            try await fixture.write(marker, to: fixture.home + "/.ssh/id_ed25519")
            try await fixture.write(marker, to: fixture.home + "/.aws/credentials")
            try await fixture.write("be helpful", to: fixture.home + "/.claude/CLAUDE.md")
            let script =
                "ls -a /home; test -e /home/agent/.ssh/id_ed25519 && echo SSH-VISIBLE; grep -rIl \(marker) / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev --exclude-dir=usr 2>/dev/null; echo done"
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "sh", "-c", script])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stdout.contains("SSH-VISIBLE"))
            #expect(!result.stdout.contains("/"), "no file inside holds the host's secret: \(result.stdout)")
            #expect(result.stdout.hasSuffix("done\n"))
        }
    }

    /// Read-only mounts (extra paths, and Claude's instructions, which use the same mount) are enforced by the kernel.
    @Test(arguments: TestEngine.allCases) func readOnlyMountsCannotBeChangedFromInside(engine: TestEngine) async throws
    {
        try await IntegrationFixture.with(engine: engine) { fixture in
            try await fixture.write("be helpful", to: fixture.home + "/notes/CLAUDE.md")
            try await fixture.write("scratch", to: fixture.home + "/scratch/a.txt")
            let script =
                "cat /mnt/notes/CLAUDE.md; echo; (echo evil > /mnt/notes/CLAUDE.md) 2>/dev/null && echo WROTE-RO; rm -f /mnt/notes/CLAUDE.md 2>/dev/null; echo ok > /cache/b.txt && echo wrote-rw"
            let result = try await fixture.paddock([
                "run", "--agent", "shell", "--mount", "~/notes", "--mount", "~/scratch:/cache:rw", "--", "sh", "-c",
                script,
            ])
            #expect(result.stdout == "be helpful\nwrote-rw\n", "\(result.stderr)")
            #expect(try String(contentsOfFile: fixture.home + "/notes/CLAUDE.md", encoding: .utf8) == "be helpful")
            #expect(try String(contentsOfFile: fixture.home + "/scratch/b.txt", encoding: .utf8) == "ok\n")
        }
    }

    @Test func aSecondRunBuildsNothingAndAChangedPackageListRebuilds() async throws {
        try await IntegrationFixture.with { fixture in
            let warm = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(warm.status == 0, "\(warm.stderr)")
            let again = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(again.status == 0)
            #expect(!again.stderr.contains("building the sandbox image"), "\(again.stderr)")

            try await fixture.write(
                "[image]\nbase = \"\(IntegrationEnvironment.baseImage)\"\npackages = [\"tree\"]\n",
                to: fixture.home + "/.config/paddock/config.toml")
            // Start from no such image, so this run must build whatever earlier runs left behind.
            let tag = try #require(
                try await fixture.paddock(["image", "build", "--agent", "shell"]).stdout.split(separator: "\n").last)
            try await fixture.shell("docker rmi --force \(tag) >/dev/null", in: fixture.root)
            let changed = try await fixture.paddock(["run", "--agent", "shell", "--", "sh", "-c", "command -v tree"])
            #expect(changed.status == 0, "\(changed.stderr)")
            #expect(changed.stderr.contains("building the sandbox image"))
            #expect(changed.stdout == "/usr/bin/tree\n")
        }
    }

    /// A build that fails shows its steps as progress, not the builder's whole output, then names the full log,
    /// which holds the builder's own error, and starts nothing. Both builders: Docker's and Podman's (Buildah)
    /// print their steps differently.
    @Test(arguments: [TestEngine.docker, .podman]) func aFailedBuildShowsStepsAndNamesTheFullLog(engine: TestEngine)
        async throws
    {
        try await IntegrationFixture.with(engine: engine) { fixture in
            // The fixture's own file (the engine, then the [image] table) plus a package Debian does not have,
            // named for this fixture so the failed step's container can be told apart from other tests'.
            let package = "paddock-no-such-package-\(fixture.id)"
            try await fixture.write(
                fixture.baseConfig + "packages = [\"\(package)\"]\n",
                to: fixture.home + "/.config/paddock/config.toml")
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(result.status == 70, "\(result.stderr)")
            let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let failure = try #require(lines.firstIndex { $0.hasPrefix("paddock: The sandbox image failed to build") })
            // Before the failure: paddock's own lines only, among them the steps.
            #expect(lines[..<failure].allSatisfy { $0.hasPrefix("paddock: ") }, "\(result.stderr)")
            #expect(lines[..<failure].contains { $0.contains("RUN apt-get update") }, "\(result.stderr)")
            let logLine = try #require(lines.last { $0.hasPrefix("Full log: ") })
            let log = try String(contentsOfFile: String(logLine.dropFirst("Full log: ".count)), encoding: .utf8)
            #expect(log.contains("Unable to locate package \(package)"))
            #expect(try await fixture.containers().isEmpty)
            // Nor a stopped build container: the legacy builder keeps the failed step's unless told not to.
            let listing =
                engine == .docker
                ? "docker ps --all --no-trunc --format '{{.Command}}'"
                : "podman ps --all --external --no-trunc --format '{{.Command}}'"
            let left = try await fixture.userShell(listing)
            #expect(left.status == 0, "\(left.stderr)")
            #expect(!left.stdout.contains(package), "\(left.stdout)")
        }
    }

    /// The gateway bridge must not be the agent's child: an agent that reaps "any child" until none is left (a
    /// shell's `wait`, a supervisor's `wait()` loop) would wait for the bridge forever.
    @Test(arguments: TestEngine.allCases) func anAgentsWaitDoesNotWaitForTheBridge(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let reapAll =
                "fork or exit 0; 1 while wait != -1; open my $f, q(>), q(/workspace/waited); print $f qq(waited\\n)"
            let process = try fixture.start(["run", "--agent", "shell", "--", "perl", "-e", reapAll])
            let ended = try await fixture.waitUntil(timeout: 30) { !process.isRunning }
            if !ended {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            #expect(ended, "the agent's `wait` returned")
            #expect(process.terminationStatus == 0)
            let written = try? String(contentsOfFile: fixture.project + "/waited", encoding: .utf8)
            #expect(written == "waited\n")
        }
    }

    @Test(arguments: TestEngine.allCases) func sigtermToTheLauncherLeavesNoContainer(engine: TestEngine) async throws {
        try await signalTheLauncher(SIGTERM, engine: engine)
    }

    /// Ctrl-C and a closed terminal: the same teardown, each with its own exit code.
    @Test(arguments: [SIGINT, SIGHUP]) func sigintAndSighupLeaveNoContainerEither(signal: Int32) async throws {
        try await signalTheLauncher(signal, engine: .docker)
    }

    private func signalTheLauncher(_ signal: Int32, engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let process = try fixture.start(["run", "--agent", "shell", "--", "sleep", "300"])
            let started = try await fixture.waitUntil { try await !fixture.containers().isEmpty }
            #expect(started)
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            #expect(process.terminationStatus == 128 + signal)
            let gone = try await fixture.waitUntil(timeout: 20) { try await fixture.containers().isEmpty }
            #expect(gone, "no container is left behind")
        }
    }

    /// The documented exit codes for an engine that is not there (69) and a session that does not exist (66).
    @Test func anUnreachableEngineAndAnUnknownSessionHaveTheirExitCodes() async throws {
        try await IntegrationFixture.with { fixture in
            // The fixture's configuration names Docker; here its daemon is a socket nobody listens on.
            let noEngine = try await fixture.paddock(
                ["run", "--agent", "shell", "--", "true"],
                environment: ["DOCKER_HOST": "unix://\(fixture.root)/no-daemon.sock"])
            #expect(noEngine.status == 69, "\(noEngine.stderr)")
            #expect(
                noEngine.stderr.contains("Docker (requested by `engine` in the configuration) is not reachable"),
                "\(noEngine.stderr)")
            #expect(try await fixture.containers().isEmpty)
            let noSession = try await fixture.paddock(["exec", "20990101-0000-zzzz", "--", "true"])
            #expect(noSession.status == 66, "\(noSession.stderr)")
        }
    }

    /// Limits from the configuration (pids, memory) and from a flag (cpus), read back inside from the cgroup
    /// (v2 files first, v1 otherwise).
    @Test func resourceLimitsReachTheContainer() async throws {
        try await IntegrationFixture.with { fixture in
            try await fixture.write(
                fixture.baseConfig + "[resources]\npids = 321\nmemory = \"256m\"\n",
                to: fixture.home + "/.config/paddock/config.toml")
            let script = """
                p=$(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)
                m=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
                c=$(cut -d' ' -f1 /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)
                echo $p $m $c
                """
            let result = try await fixture.paddock([
                "run", "--agent", "shell", "--cpus", "1.5", "--", "sh", "-c", script,
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "321 268435456 150000\n")
        }
    }

    @Test(arguments: TestEngine.allCases) func aKilledLauncherIsReportedAndCleaned(engine: TestEngine) async throws {
        try await withOrphanLock {
            try await IntegrationFixture.with(engine: engine) { fixture in
                let process = try fixture.start(["run", "--agent", "shell", "--", "sleep", "300"])
                #expect(try await fixture.waitUntil { try await !fixture.containers().isEmpty })
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                let listing = try await fixture.paddock(["ps", "--all", "--json"])
                #expect(listing.status == 0, "\(listing.stderr)")
                #expect(listing.stdout.contains("orphaned"))
                #expect(listing.stdout.contains(fixture.project))
                let warned = try await fixture.paddock(["ps"])
                #expect(warned.stderr.contains("outlived their launcher"))
                // A start asks the engine about orphans only while a record suspects one: here it must.
                let started = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
                #expect(started.stderr.contains("outlived their launcher"), "\(started.stderr)")
                let cleaned = try await fixture.paddock(["clean"])
                #expect(cleaned.status == 0, "\(cleaned.stderr)")
                #expect(try await fixture.waitUntil(timeout: 20) { try await fixture.containers().isEmpty })
                if engine != .bwrap {
                    let after = try await fixture.paddock(["run", "--debug", "--agent", "shell", "--", "true"])
                    #expect(after.status == 0, "\(after.stderr)")
                    #expect(!after.stderr.contains("outlived their launcher"), "\(after.stderr)")
                    if engine == .podman {
                        // Docker's container list goes through its API, which the debug log does not show as a process.
                        #expect(!StartPathTests.ran(after).contains { $0.contains(" ps ") }, "clean closed the record")
                    }
                }
            }
        }
    }

    @Test(arguments: TestEngine.allCases) func execAndStopReachARunningSession(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let process = try fixture.start(["run", "--agent", "shell", "--", "sleep", "300"])
            let id = try #require(try await fixture.runningSessionID())
            let exec = try await fixture.paddock(["exec", id, "--", "sh", "-c", "id -u; pwd"])
            if engine == .bwrap {
                // Entering from outside would skip the sandbox's seccomp filter: refused, with what to do instead.
                #expect(exec.status == 64)
                #expect(exec.stderr.contains("paddock shell --engine bwrap"), "\(exec.stderr)")
            } else {
                #expect(exec.stdout == "\(fixture.sandboxUser.uid)\n/workspace\n", "\(exec.stderr)")
            }
            let stop = try await fixture.paddock(["stop", id])
            #expect(stop.status == 0, "\(stop.stderr)")
            process.waitUntilExit()
            #expect(try await fixture.waitUntil(timeout: 20) { try await fixture.containers().isEmpty })
        }
    }

    /// The attack: from inside a session, the agent widens paddock.toml for the next one.
    @Test func anAgentEditedProjectFileStopsTheNextRun() async throws {
        try await IntegrationFixture.with { fixture in
            try await fixture.write("[resources]\npids = 512\n", to: fixture.project + "/paddock.toml")
            let untrusted = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(untrusted.status == 77)
            #expect(untrusted.stderr.contains("paddock trust"))
            #expect(try await fixture.containers().isEmpty, "nothing started")

            #expect(try await fixture.paddock(["trust"]).status == 0)
            let edit =
                "printf 'env = [\"AWS_SECRET_ACCESS_KEY\"]\\n[resources]\\npids = 512\\n[[mounts]]\\npath = \"~/.aws\"\\n' > /workspace/paddock.toml"
            let hostile = try await fixture.paddock(["run", "--agent", "shell", "--", "sh", "-c", edit])
            #expect(hostile.status == 0, "\(hostile.stderr)")

            let next = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(next.status == 77)
            #expect(next.stderr.contains("+ env = [\"AWS_SECRET_ACCESS_KEY\"]"))
            #expect(try await fixture.containers().isEmpty, "nothing started")
        }
    }

    @Test func dangerousMountsAreRefusedBeforeAnythingStarts() async throws {
        try await IntegrationFixture.with { fixture in
            try await fixture.write("key", to: fixture.home + "/.ssh/id_ed25519")
            let result = try await fixture.paddock(["run", "--agent", "shell", "--mount", "~/.ssh", "--", "true"])
            #expect(result.status == 77)
            #expect(result.stderr.contains("--allow-dangerous-mounts"))
            #expect(try await fixture.containers().isEmpty)
        }
    }

    /// The attack: a harmless-looking folder (a scratch or tmp folder) that holds a host program's socket, here a
    /// stand-in for an ssh-agent. Mounted read-only it still reaches that program, as the control run with the
    /// override shows; by default paddock refuses the folder and names the socket.
    @Test func aFolderHoldingAHostSocketIsRefused() async throws {
        try await IntegrationFixture.with { fixture in
            try await fixture.write("notes", to: fixture.home + "/scratch/notes.txt")
            let socket = fixture.home + "/scratch/ssh-agent.XXXX/agent.42"
            try FileManager.default.createDirectory(
                atPath: (socket as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let service = Process()
            service.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            service.arguments = [
                "python3", "-c",
                """
                import os, socket, sys
                s = socket.socket(socket.AF_UNIX)
                s.bind(sys.argv[1])
                os.chmod(sys.argv[1], 0o777)
                s.listen(4)
                while True:
                    c, _ = s.accept()
                    c.sendall(b"signed by the host's agent\\n")
                    c.close()
                """, socket,
            ]
            // Not the test's own pipes: a process that outlives the test would hold them open.
            service.standardOutput = FileHandle.nullDevice
            service.standardError = FileHandle.nullDevice
            try service.run()
            defer {
                // SIGKILL: Foundation's Process hands the child its spawning thread's blocked signals, SIGTERM
                // among them (seen in /proc/PID/status), and SIGKILL cannot be blocked.
                kill(service.processIdentifier, SIGKILL)
                service.waitUntilExit()
            }
            #expect(try await fixture.waitUntil { FileManager.default.fileExists(atPath: socket) })

            let control = try await fixture.paddock([
                "run", "--agent", "shell", "--allow-dangerous-mounts", "--mount", "~/scratch", "--",
                "socat", "-u", "UNIX-CONNECT:/mnt/scratch/ssh-agent.XXXX/agent.42", "-",
            ])
            #expect(control.stdout == "signed by the host's agent\n", "the threat is real: \(control.stderr)")

            let refused = try await fixture.paddock(["run", "--agent", "shell", "--mount", "~/scratch", "--", "true"])
            #expect(refused.status == 77, "\(refused.stderr)")
            #expect(refused.stderr.contains("holds a socket (\(socket))"), "\(refused.stderr)")
            #expect(try await fixture.containers().isEmpty)
        }
    }

    /// A project the agent's uid cannot write (root's, when paddock itself runs as root) still starts, but paddock
    /// says so first and names the way out, instead of leaving the agent to fail on every write.
    @Test(.enabled(if: getuid() == 0, "needs root to give the project to another owner"))
    func aProjectTheAgentCannotWriteIsNamedFirst() async throws {
        try await IntegrationFixture.with { fixture in
            try await fixture.shell(
                "chown 0:0 '\(fixture.project)' && chmod 755 '\(fixture.project)'", in: fixture.root)
            let result = try await fixture.paddock([
                "run", "--agent", "shell", "--", "sh", "-c", "touch /workspace/f 2>/dev/null || echo DENIED",
            ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "DENIED\n")
            #expect(
                result.stderr.contains("which cannot write \(fixture.project) (owner uid 0, mode 755)"),
                "\(result.stderr)")
            #expect(result.stderr.contains("--isolate clone"))
        }
    }

    @Test func malformedConfigNamesTheLineAndStartsNothing() async throws {
        try await IntegrationFixture.with { fixture in
            try await fixture.write(
                "[image]\nbase = \"\(IntegrationEnvironment.baseImage)\"\npackages = [\"tree\"\n",
                to: fixture.home + "/.config/paddock/config.toml")
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(result.status == 78)
            #expect(result.stderr.contains("config.toml:"))
            #expect(try await fixture.containers().isEmpty)
        }
    }

    @Test(arguments: TestEngine.allCases) func doctorReportsTheEngine(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let result = try await fixture.paddock(["doctor"])
            let flavor =
                ["docker": "Docker Engine", "podman": "Podman (rootless)", "bwrap": "bubblewrap"][engine.rawValue] ?? ""
            #expect(result.stdout.contains("ok    engine: \(flavor)"), "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("requested by `engine` in the configuration"))
            #expect(result.stdout.contains("disk:"))
            // On a host whose cgroups crun refuses (this CI machine's kind), doctor says what paddock does about it.
            let layout = CgroupLayout.live()
            if engine == .podman, layout.crunRefuses {
                #expect(
                    result.stdout.contains("warn  engine limits: this host's cgroups are \(layout.summary)"),
                    "\(result.stdout)")
                #expect(result.stdout.contains("so paddock runs Podman with runc"), "\(result.stdout)")
            }
            if engine == .podman, !layout.rootlessLimitsEnforced, layout != .unknown {
                #expect(result.stdout.contains("cannot enforce memory, CPU or process limits"), "\(result.stdout)")
            }
        }
    }

    /// A session on such a host says so before it starts, and still runs.
    @Test func aPodmanSessionOnAHybridHostSaysWhatItLoses() async throws {
        let layout = CgroupLayout.live()
        try await IntegrationFixture.with(engine: .podman) { fixture in
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(result.status == 0, "\(result.stderr)")
            let said = result.stderr.contains("paddock: rootless Podman cannot enforce memory, CPU or process limits")
            #expect(said == (!layout.rootlessLimitsEnforced && layout != .unknown), "\(result.stderr)")
            #expect(result.stderr.contains("runs Podman with runc") == layout.crunRefuses, "\(result.stderr)")
        }
    }
}

extension Tag {
    @Tag static var engine: Self
}

/// The API fast path gives the same answers as the CLI, against the real engine.
@Suite("Docker API against the real engine", .tags(.engine))
struct DockerAPIIntegrationTests {
    @Test func labelsAbsenceAndContainersAgreeWithTheCLI() async throws {
        try await IntegrationEnvironment.requireEngine()
        let api = try #require(
            DockerAPI.localSocket(environment: ProcessInfo.processInfo.environment, home: NSHomeDirectory()).map(
                DockerAPI.init))
        #expect(api.ping())
        let base = IntegrationEnvironment.baseImage
        #expect(try api.imageLabels(base) != nil)
        #expect(try api.imageLabels("paddock-absent/never:\(UUID().uuidString.lowercased())") == nil)
        let viaAPI = DockerEngine(runner: SubprocessRunner(), api: api)
        let viaCLI = DockerEngine(runner: SubprocessRunner())
        let apiList = try await viaAPI.containers(all: true).map(\.name).sorted()
        let cliList = try await viaCLI.containers(all: true).map(\.name).sorted()
        #expect(apiList == cliList)
    }
}
