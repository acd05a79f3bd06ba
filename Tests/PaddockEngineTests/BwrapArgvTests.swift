import Foundation
import PaddockCore
import Testing

@testable import PaddockEngine

@Suite("bwrap argv: namespaces, read-only userland, nothing else of the host")
struct BwrapArgvTests {
    let sandbox = BwrapSandboxPaths(directory: "/s/bwrap/paddock-app-1")
    let layout = HostLayout(
        userland: [.bind("/usr"), .symlink("/bin", target: "usr/bin"), .symlink("/lib", target: "usr/lib")],
        etc: [
            .bind("/etc/ld.so.cache"), .bind("/etc/ssl"), .symlink("/etc/localtime", target: "/usr/share/zoneinfo/UTC"),
        ])

    func spec(passthrough: [String] = ["ANTHROPIC_API_KEY"]) -> ContainerSpec {
        ContainerSpec(
            name: "paddock-app-1", image: "unused", labels: ["paddock.session": "1"],
            user: SandboxUser(uid: 1001, gid: 1002),
            mounts: [
                .bind("/home/u/app", at: "/workspace", readOnly: false),
                .volume("paddock-home-app-1", at: "/home/agent"),
                .bind("/home/u/.claude/CLAUDE.md", at: "/home/agent/.claude/CLAUDE.md", readOnly: true),
                .bind("/s/gateway/1", at: "/run/paddock", readOnly: true),
            ],
            environment: ["IS_SANDBOX": "1", "HTTP_PROXY": "http://127.0.0.1:3128"],
            passthroughEnvironment: passthrough,
            command: ["claude", "--dangerously-skip-permissions"])
    }

    func arguments(_ spec: ContainerSpec) throws -> [String] {
        try BwrapEngine.runArguments(spec, layout: layout, sandbox: sandbox, homesDirectory: "/s/homes")
    }

    @Test func exactArgv() throws {
        #expect(
            try arguments(spec()) == [
                "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                "--cap-drop", "ALL", "--uid", "1001", "--gid", "1002", "--hostname", "paddock",
                "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp",
                "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache", "--ro-bind", "/etc/ssl", "/etc/ssl",
                "--symlink", "/usr/share/zoneinfo/UTC", "/etc/localtime",
                "--ro-bind", "/s/bwrap/paddock-app-1/etc/passwd", "/etc/passwd",
                "--ro-bind", "/s/bwrap/paddock-app-1/etc/group", "/etc/group",
                "--ro-bind", "/s/bwrap/paddock-app-1/etc/hosts", "/etc/hosts",
                "--ro-bind", "/s/bwrap/paddock-app-1/etc/hostname", "/etc/hostname",
                "--bind", "/home/u/app", "/workspace",
                "--bind", "/s/homes/paddock-home-app-1", "/home/agent",
                "--ro-bind", "/home/u/.claude/CLAUDE.md", "/home/agent/.claude/CLAUDE.md",
                "--ro-bind", "/s/gateway/1", "/run/paddock",
                "--chdir", "/workspace", "--clearenv",
                "--setenv", "HOME", "/home/agent", "--setenv", "HTTP_PROXY", "http://127.0.0.1:3128",
                "--setenv", "IS_SANDBOX", "1", "--setenv", "LANG", "C.UTF-8",
                "--setenv", "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--setenv", "USER",
                "agent",
                "--seccomp", "3", "--", "claude", "--dangerously-skip-permissions",
            ])
    }

    /// pid 1 inside is bwrap's own process, readable by the agent: its argv carries the command only. Options (host
    /// paths) and then the variables' values go through the `--args` pipe, NUL-separated, in that order.
    @Test func bwrapsArgvShowsNoHostPathNorValue() throws {
        let run = try arguments(spec())
        let secrets = BwrapEngine.secretArguments(spec(), environment: ["ANTHROPIC_API_KEY": "sk-secret"])
        let (argv, options) = BwrapEngine.spawnArguments(run, secrets: secrets)
        #expect(argv == ["--args", "4", "--", "claude", "--dangerously-skip-permissions"])
        let separator = try #require(run.firstIndex(of: "--"))
        #expect(options == (Array(run[..<separator]) + secrets).map { $0 + "\0" }.joined())
        #expect(!argv.contains { $0.hasPrefix("/home/") || $0.hasPrefix("/s/") || $0.contains("sk-secret") })
    }

    @Test func everyNamespaceAndNoNestedUserNamespaces() throws {
        let argv = try arguments(spec())
        for flag in ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"] {
            #expect(argv.contains(flag), "\(flag)")
        }
        #expect(!argv.contains("--share-net"))
        #expect(!argv.contains { $0.hasPrefix("--cap-add") })
        #expect(!argv.contains("--userns") && !argv.contains("--as-pid-1"))
    }

    /// Nothing of the host but the userland, the allowed /etc entries and the spec's mounts: no `/`, no home,
    /// no /etc as a whole, no /run, /var or /sys, and every userland mount read-only.
    @Test func nothingElseOfTheHost() throws {
        let argv = try arguments(spec())
        let options = argv.prefix(while: { $0 != "--" })
        var sources: [(flag: String, source: String, target: String)] = []
        for (index, word) in options.enumerated()
        where ["--bind", "--ro-bind", "--dev-bind", "--bind-try", "--ro-bind-try"].contains(word) {
            sources.append((word, options[index + 1], options[index + 2]))
        }
        #expect(
            !sources.contains {
                $0.flag == "--dev-bind" || $0.source == "/" || $0.source == "/etc" || $0.source == "/home"
            })
        #expect(!sources.contains { ["/run", "/var", "/sys", "/root", "/home/u"].contains($0.source) })
        let writable = sources.filter { $0.flag == "--bind" }.map(\.target)
        #expect(writable == ["/workspace", "/home/agent"], "only the project and the agent's home are writable")
        #expect(sources.filter { $0.source == "/usr" }.map(\.flag) == ["--ro-bind"])
    }

    /// The seccomp program and the passed-through values come from descriptors, never from argv.
    @Test func secretsNeverAppearInArgv() throws {
        let argv = try arguments(spec())
        #expect(!argv.contains("ANTHROPIC_API_KEY"))
        let secrets = BwrapEngine.secretArguments(
            spec(), environment: ["ANTHROPIC_API_KEY": "sk-secret", "OTHER": "x"])
        #expect(secrets == ["--setenv", "ANTHROPIC_API_KEY", "sk-secret"])
        #expect(BwrapEngine.secretArguments(spec(), environment: [:]).isEmpty, "an unset variable is not invented")
        #expect(try !arguments(spec()).contains("--args"), "the launcher adds it, for options and values alike")
        #expect(try arguments(spec()).suffix(5).prefix(3) == ["--seccomp", "3", "--"])
    }

    @Test func theEnvironmentStartsEmpty() throws {
        let argv = try arguments(spec())
        let clear = try #require(argv.firstIndex(of: "--clearenv"))
        let firstSet = try #require(argv.firstIndex(of: "--setenv"))
        #expect(clear < firstSet, "--clearenv applies at parse time, so it must come first")
    }

    @Test func volumesAreDirectoriesUnderTheState() throws {
        #expect(
            try BwrapEngine.homeDirectory(volume: "paddock-home-x", homesDirectory: "/s/homes")
                == "/s/homes/paddock-home-x")
        for bad in ["", "..", "../x", "a/b", ".hidden"] {
            #expect(throws: PaddockError.self) {
                try BwrapEngine.homeDirectory(volume: bad, homesDirectory: "/s/homes")
            }
        }
    }

    @Test func etcIsPaddocksOwnWhereItNamesUsers() {
        let files = BwrapEngine.etcFiles(spec())
        #expect(files["passwd"]?.contains("agent:x:1001:1002:agent:/home/agent:/bin/bash") == true)
        #expect(files["group"]?.contains("agent:x:1002:") == true)
        #expect(files["hostname"] == "paddock\n")
        #expect(
            !HostLayout.etcAllowList.contains {
                ["shadow", "gshadow", "sudoers", "ssh", "passwd", "group"].contains($0)
            })
        #expect(!HostLayout.etcAllowList.contains { $0.hasPrefix("ssh/ssh_host") })
    }

    @Test func probingReadsSymlinksAndSkipsWhatIsMissing() throws {
        let root = NSTemporaryDirectory() + "paddock-layout-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/usr/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/etc/ssl", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/etc/ssh", withIntermediateDirectories: true)
        try "secret".write(toFile: root + "/etc/shadow", atomically: true, encoding: .utf8)
        try "key".write(toFile: root + "/etc/ssh/ssh_host_ed25519_key", atomically: true, encoding: .utf8)
        try "Host *".write(toFile: root + "/etc/ssh/ssh_config", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/bin", withDestinationPath: "usr/bin")
        let probed = HostLayout.probe(root: root)
        #expect(probed.userland == [.bind("/usr"), .symlink("/bin", target: "usr/bin")])
        #expect(probed.etc == [.bind("/etc/ssh/ssh_config"), .bind("/etc/ssl")])
    }
}
