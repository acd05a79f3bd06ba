import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

@testable import PaddockEngine

@Suite("podman argv: Docker's hardening plus keep-id, and Podman's own JSON")
struct PodmanArgvTests {
    func spec() -> ContainerSpec {
        ContainerSpec(
            name: "paddock-app-20261121-0521-k3f9", image: "paddock-claude:abc",
            labels: ["paddock.session": "20261121-0521-k3f9"], user: SandboxUser(uid: 1001, gid: 1001),
            mounts: [
                .bind("/home/u/app", at: "/workspace", readOnly: false),
                .volume("paddock-home-app-1", at: "/home/agent"),
                .bind("/home/u/.local/state/paddock/gateway/s", at: "/run/paddock", readOnly: true),
            ],
            environment: ["IS_SANDBOX": "1"], passthroughEnvironment: ["ANTHROPIC_API_KEY"], cpus: 2, memory: 1 << 30,
            pidsLimit: 4096, command: ["claude", "--dangerously-skip-permissions"])
    }

    @Test func exactRootlessArgv() {
        #expect(
            PodmanEngine.runArguments(spec(), rootless: true) == [
                "run", "--rm", "--name", "paddock-app-20261121-0521-k3f9", "--hostname", "paddock",
                "--label", "paddock.session=20261121-0521-k3f9", "--interactive",
                "--network", "none", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                "--user", "1001:1001", "--init", "--pids-limit", "4096", "--pull", "never", "--userns=keep-id",
                "--memory", "1073741824", "--cpus", "2.0",
                "--mount", "type=bind,src=/home/u/app,dst=/workspace",
                "--mount", "type=volume,src=paddock-home-app-1,dst=/home/agent",
                "--mount", "type=bind,src=/home/u/.local/state/paddock/gateway/s,dst=/run/paddock,readonly",
                "--env", "IS_SANDBOX=1", "--env", "ANTHROPIC_API_KEY",
                "--workdir", "/workspace", "--", "paddock-claude:abc", "claude", "--dangerously-skip-permissions",
            ])
    }

    /// Every flag of Docker's hardened argv is in Podman's, in the same order; keep-id only when rootless.
    @Test func keepsEveryDockerHardeningFlag() {
        let docker = DockerEngine.runArguments(spec())
        let rootless = PodmanEngine.runArguments(spec(), rootless: true)
        #expect(rootless.filter { $0 != "--userns=keep-id" } == docker)
        #expect(PodmanEngine.runArguments(spec(), rootless: false) == docker, "rootful Podman maps no user")
        for flag in ["--cap-drop", "--security-opt", "--user", "--init", "--pids-limit"] {
            #expect(rootless.contains(flag))
        }
        #expect(!rootless.contains("--privileged"))
        #expect(!rootless.contains { $0.contains("podman.sock") || $0.contains("docker.sock") })
        #expect(!rootless.contains { $0.hasPrefix("ANTHROPIC_API_KEY=") })
    }

    @Test func paddocksSeccompProfileIsPassed() {
        let argv = PodmanEngine.runArguments(spec(), rootless: true, seccompProfile: "/s/podman/seccomp.json")
        let options = argv.prefix(while: { $0 != "--" })
        let values = options.indices.filter { options[$0] == "--security-opt" }.map { options[$0 + 1] }
        #expect(values == ["no-new-privileges", "seccomp=/s/podman/seccomp.json"])
    }

    /// Podman's default profile allows clone/unshare with namespace flags, setns and keyrings outright (for nested
    /// containers); Docker's does not, and neither may paddock's.
    @Test func seccompProfileRefusesNamespacesAndKeyrings() throws {
        let podmanDefault = """
            {"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
             {"names":["read","clone","clone3","keyctl","mount","ptrace","setns","unshare"],"action":"SCMP_ACT_ALLOW","args":[],"includes":{},"excludes":{}},
             {"names":["bpf","setns"],"action":"SCMP_ACT_ALLOW","args":[],"includes":{"caps":["CAP_SYS_ADMIN"]},"excludes":{}},
             {"names":["bpf","setns"],"action":"SCMP_ACT_ERRNO","args":[],"includes":{},"excludes":{"caps":["CAP_SYS_ADMIN"]},"errnoRet":1}]}
            """
        let data = try PodmanEngine.hardenedSeccompProfile(fromDefault: Data(podmanDefault.utf8))
        let profile = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(profile["defaultAction"] as? String == "SCMP_ACT_ERRNO")
        let rules = try #require(profile["syscalls"] as? [[String: Any]])
        let unconditional = rules.filter {
            $0["action"] as? String == "SCMP_ACT_ALLOW" && (($0["args"] as? [Any]) ?? []).isEmpty
        }
        let allowed = Set(unconditional.flatMap { $0["names"] as? [String] ?? [] })
        #expect(allowed.isSuperset(of: ["read", "mount", "ptrace", "bpf"]), "everything else stays as Podman has it")
        #expect(allowed.isDisjoint(with: ["clone", "clone3", "unshare", "setns", "keyctl"]))
        func rule(_ name: String) -> [String: Any]? { rules.first { ($0["names"] as? [String]) == [name] } }
        let clone = try #require(rule("clone")?["args"] as? [[String: Any]])
        #expect(clone.first?["op"] as? String == "SCMP_CMP_MASKED_EQ")
        #expect((clone.first?["value"] as? NSNumber)?.uint64Value == 0x7E02_0000)
        #expect((clone.first?["valueTwo"] as? NSNumber)?.uint64Value == 0)
        let unshare = try #require(rule("unshare")?["args"] as? [[String: Any]])
        #expect((unshare.first?["value"] as? NSNumber)?.uint64Value == 0x7E02_0080)
        #expect((rule("clone3")?["errnoRet"] as? NSNumber)?.intValue == 38, "ENOSYS, so libc falls back to clone")
        #expect(throws: PaddockError.self) { try PodmanEngine.hardenedSeccompProfile(fromDefault: Data("[]".utf8)) }
    }

    /// The same transformation on the profile Debian's podman really ships, when this machine has it.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/containers/seccomp.json")))
    func seccompProfileFromTheInstalledDefault() throws {
        let base = try #require(FileManager.default.contents(atPath: "/usr/share/containers/seccomp.json"))
        let data = try PodmanEngine.hardenedSeccompProfile(fromDefault: base)
        let rules = try #require(
            (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["syscalls"] as? [[String: Any]])
        let unconditional = rules.filter {
            $0["action"] as? String == "SCMP_ACT_ALLOW" && (($0["args"] as? [Any]) ?? []).isEmpty
        }
        let allowed = Set(unconditional.flatMap { $0["names"] as? [String] ?? [] })
        #expect(allowed.contains("read") && allowed.contains("execve"))
        #expect(allowed.isDisjoint(with: ["clone", "clone3", "unshare", "setns", "keyctl", "add_key", "request_key"]))
        // socket only for AF_UNIX, AF_INET, AF_INET6 and netlink (not its audit protocol); no socketcall at all,
        // and no other rule that names either (libseccomp refuses overlapping rules with different actions).
        #expect(allowed.isDisjoint(with: ["socket", "socketcall", "socketpair"]))
        let socketRules = rules.filter {
            ($0["names"] as? [String] ?? []).contains { $0 == "socket" || $0 == "socketcall" }
        }
        #expect(
            socketRules.allSatisfy {
                $0["names"] as? [String] == ["socket"] && $0["action"] as? String == "SCMP_ACT_ALLOW"
            })
        let pairRules = rules.filter { ($0["names"] as? [String] ?? []).contains("socketpair") }
        #expect(pairRules.count == 1)
        #expect(
            ((pairRules.first?["args"] as? [[String: Any]])?.first?["value"] as? NSNumber)?.uint64Value == 1,
            "AF_UNIX only")
        let families = socketRules.compactMap { rule -> UInt64? in
            let first = (rule["args"] as? [[String: Any]])?.first
            guard first?["index"] as? Int == 0, first?["op"] as? String == "SCMP_CMP_EQ" else { return nil }
            return (first?["value"] as? NSNumber)?.uint64Value
        }
        #expect(families == [1, 2, 10, 16])
    }

    @Test func listingAndRemovalArgv() {
        #expect(
            PodmanEngine.containersArguments(all: true) == [
                "ps", "--all", "--filter", "label=paddock.session", "--format", "json",
            ])
        #expect(
            PodmanEngine.containersArguments(all: false) == [
                "ps", "--filter", "label=paddock.session", "--format", "json",
            ])
        #expect(
            PodmanEngine.removeArguments(["a", "b"]) == ["rm", "--force", "--ignore", "--time", "0", "--", "a", "b"])
    }

    @Test func runAndExecGoThroughPodman() async throws {
        let runner = RecordingRunner()
        let engine = PodmanEngine(runner: runner, rootless: true)
        _ = try await engine.run(spec())
        _ = try await engine.exec(container: "c", user: "1001:1001", command: ["sh"], tty: false)
        #expect(runner.commands.map(\.executable) == ["podman", "podman"])
        #expect(runner.commands[0].arguments.contains("--userns=keep-id"))
        #expect(
            runner.commands[1].arguments == [
                "exec", "--interactive", "--user", "1001:1001", "--workdir", "/workspace", "--", "c", "sh",
            ])
    }

    /// `podman info --format json` from Debian's podman 4.3, rootless (trimmed).
    @Test func infoJSON() throws {
        let json = """
            {"host":{"arch":"amd64","cgroupVersion":"v1","distribution":{"distribution":"debian","version":"12","codename":"bookworm"},
            "os":"linux","security":{"rootless":true,"seccompEnabled":true}},
            "store":{"graphDriverName":"overlay","graphRoot":"/home/t/.local/share/containers/storage"},
            "version":{"APIVersion":"4.3.1","Version":"4.3.1","OsArch":"linux/amd64"}}
            """
        #expect(
            try PodmanEngine.parseInfo(json, hostIsMac: false)
                == EngineInfo(
                    flavor: "Podman (rootless)", serverVersion: "4.3.1", operatingSystem: "debian 12",
                    rootDirectory: "/home/t/.local/share/containers/storage", product: .podman))
        #expect(throws: PaddockError.self) { try PodmanEngine.parseInfo("Error: oops") }
    }

    /// `podman ps --all --format json`: Names is a list, StartedAt a Unix time, Labels a map.
    @Test func psJSON() {
        let json = """
            [{"AutoRemove":false,"Command":["sleep","100"],"Id":"24bd11e1bc05","Image":"localhost/paddock-test/bookworm:latest",
              "Labels":{"paddock.project":"/a,b","paddock.session":"s1"},"Names":["paddock-app-s1"],"Pid":19498,
              "StartedAt":1795240907,"State":"running","Status":"Up 2 seconds"}]
            """
        let parsed = PodmanEngine.parseContainers(json)
        #expect(parsed.count == 1)
        #expect(parsed.first?.name == "paddock-app-s1")
        #expect(parsed.first?.id == "24bd11e1bc05")
        #expect(parsed.first?.state == "running")
        #expect(parsed.first?.labels == ["paddock.project": "/a,b", "paddock.session": "s1"])
        #expect(parsed.first?.status.hasPrefix("2026-11-21T") == true)
        #expect(PodmanEngine.parseContainers("[]").isEmpty)
        #expect(PodmanEngine.parseContainers("null").isEmpty)
    }

    /// `podman images --format json`: localhost/ is dropped so references match the tags paddock gave.
    @Test func imagesJSON() {
        let json = """
            [{"Id":"1ec19ba543ad4d80f249","Labels":{"paddock.context-sha256":"h1"},"Names":["localhost/paddock-shell:h1"],
              "Size":407594713,"CreatedAt":"2026-11-21T05:34:41Z"}]
            """
        let parsed = PodmanEngine.parseImages(json, label: "paddock.context-sha256")
        #expect(
            parsed == [
                ImageSummary(
                    reference: "paddock-shell:h1", id: "1ec19ba543ad", created: "2026-11-21T05:34:41Z",
                    size: "407.6 MB",
                    contextHash: "h1")
            ])
    }

    @Test func absentImageIsNilAndABrokenEngineIsAnError() async throws {
        let absent = RecordingRunner { command in
            command.arguments.prefix(2) == ["image", "exists"]
                ? ProcessOutput(status: 1, stdout: "", stderr: "")
                : ProcessOutput(status: 125, stdout: "", stderr: "no such image")
        }
        #expect(try await PodmanEngine(runner: absent).imageLabel("x:y", label: "l") == nil)
        let broken = RecordingRunner { _ in ProcessOutput(status: 125, stdout: "", stderr: "cannot set up namespace") }
        await #expect(throws: PaddockError.self) {
            try await PodmanEngine(runner: broken).imageLabel("x:y", label: "l")
        }
        let labelled = RecordingRunner { _ in ProcessOutput(status: 0, stdout: "{\"l\":\"v\"}\n", stderr: "") }
        #expect(try await PodmanEngine(runner: labelled).imageLabel("x:y", label: "l") == "v")
        let unlabelled = RecordingRunner { _ in ProcessOutput(status: 0, stdout: "null\n", stderr: "") }
        #expect(try await PodmanEngine(runner: unlabelled).imageLabel("x:y", label: "l") == "")
    }
}

/// A hybrid-cgroup host (this CI machine's kind): crun refuses it, so every Podman command that runs a container
/// goes through runc; without runc nothing starts; and the limits rootless Podman cannot hold there are said.
@Suite("podman on a hybrid cgroup host")
struct PodmanHybridHostTests {
    let hybrid = CgroupLayout.hybrid(cgroup2Mount: "/sys/fs/cgroup/unified", cgroup2Controllers: ["hugetlb"])

    @Test func everyPodmanCommandCarriesTheRuntime() async throws {
        let runner = RecordingRunner()
        let engine = PodmanEngine(
            runner: runner, rootless: true, cgroups: hybrid, runtime: .runc(path: "/usr/sbin/runc"))
        try await engine.buildImage(ImageBuildRequest(contextDirectory: "/s/b", tag: "t:1", labels: [:])) { _ in }
        _ = try await engine.run(PodmanArgvTests().spec())
        _ = try await engine.exec(container: "c", user: "1001:1001", command: ["true"], tty: false)
        try await engine.remove(containers: ["c"])
        let argvs = runner.commands.map(\.argv)
        #expect(argvs.count == 4)
        for argv in argvs { #expect(Array(argv.prefix(3)) == ["podman", "--runtime", "/usr/sbin/runc"], "\(argv)") }
        #expect(argvs[0][3] == "build" && argvs[1][3] == "run")
    }

    @Test func withoutRuncNothingStarts() async throws {
        let runner = RecordingRunner()
        let refusal = PodmanRuntimeChoice.choose(layout: hybrid, runcPath: nil)
        let engine = PodmanEngine(runner: runner, rootless: true, cgroups: hybrid, runtime: refusal)
        #expect(engine.startRefusal != nil)
        await #expect(throws: PaddockError.self) { _ = try await engine.run(PodmanArgvTests().spec()) }
        await #expect(throws: PaddockError.self) {
            try await engine.buildImage(ImageBuildRequest(contextDirectory: "/s/b", tag: "t:1", labels: [:])) { _ in }
        }
        #expect(runner.commands.isEmpty, "nothing may reach Podman")
    }

    @Test func theLostLimitsAreSaid() {
        let runner = RecordingRunner()
        let hybridRootless = PodmanEngine(
            runner: runner, rootless: true, cgroups: hybrid, runtime: .runc(path: "/usr/sbin/runc"))
        #expect(hybridRootless.limitations.count == 2)
        #expect(hybridRootless.limitations[0].contains("runs Podman with runc (/usr/sbin/runc)"))
        #expect(hybridRootless.limitations[1].contains("cannot enforce memory, CPU or process limits"))
        #expect(PodmanEngine(runner: runner, rootless: true, cgroups: .legacy).limitations.count == 1)
        #expect(PodmanEngine(runner: runner, rootless: true, cgroups: .unified).limitations.isEmpty)
        #expect(PodmanEngine(runner: runner, rootless: false, cgroups: .legacy).limitations.isEmpty)
    }
}
