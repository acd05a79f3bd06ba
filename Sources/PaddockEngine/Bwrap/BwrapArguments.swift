import Foundation
import PaddockCore

/// The parts of the host's filesystem a bwrap sandbox shows, probed at run time; rendering stays a pure function.
public struct HostLayout: Equatable, Sendable {
    public enum Entry: Equatable, Sendable {
        /// Bound read-only at the same path.
        case bind(String)
        /// Recreated as a symlink (merged /usr: /bin → usr/bin), so nothing outside the bound tree appears.
        case symlink(String, target: String)
    }

    /// /usr and the top-level /bin, /sbin, /lib* of the host's userland.
    public var userland: [Entry]
    /// The /etc entries the sandbox gets; everything else in /etc is absent.
    public var etc: [Entry]

    public init(userland: [Entry], etc: [Entry]) {
        self.userland = userland
        self.etc = etc
    }

    public static let userlandCandidates = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]

    /// /etc is bound entry by entry from this list: what programs need to link, find certificates, name the
    /// time zone and read shell defaults. Machine secrets (shadow, ssh host keys, sudoers, Wi-Fi and VPN profiles,
    /// Kerberos keytabs, docker and podman configs) and the host's user list are simply not there; passwd, group,
    /// hosts and hostname are paddock's own.
    public static let etcAllowList = [
        "alternatives", "bash.bashrc", "ca-certificates", "ca-certificates.conf", "crypto-policies", "debian_version",
        "gai.conf", "gitconfig", "host.conf", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "locale.alias",
        "localtime", "lsb-release", "mime.types", "nsswitch.conf", "os-release", "pki", "profile", "profile.d",
        "protocols", "services", "shells", "ssh/ssh_config", "ssh/ssh_config.d", "ssl", "terminfo", "timezone",
    ]

    /// Reads the host: which candidates exist, and which are symlinks.
    public static func probe(root: String = "") -> HostLayout {
        let fileManager = FileManager.default
        func entry(_ path: String) -> Entry? {
            let full = root + path
            if let target = try? fileManager.destinationOfSymbolicLink(atPath: full) {
                return .symlink(path, target: target)
            }
            return fileManager.fileExists(atPath: full) ? .bind(path) : nil
        }
        return HostLayout(
            userland: userlandCandidates.compactMap(entry), etc: etcAllowList.compactMap { entry("/etc/" + $0) })
    }
}

/// Files paddock writes for one bwrap sandbox, under `<state>/bwrap/<name>/`.
public struct BwrapSandboxPaths: Equatable, Sendable {
    public var directory: String

    public init(directory: String) { self.directory = directory }

    public var record: String { directory + "/sandbox.json" }
    public var seccomp: String { directory + "/seccomp.bpf" }
    public var etc: String { directory + "/etc" }
    public var stopRequested: String { directory + "/stop-requested" }
}

extension BwrapEngine {
    /// The descriptor bwrap reads the seccomp program from, and the one carrying its options (passed-through
    /// variables among them).
    public static let seccompDescriptor: Int32 = 3
    public static let optionsDescriptor: Int32 = 4

    /// What the image's ENV gives a container; bwrap starts from an empty environment.
    public static let baseEnvironment = [
        "HOME": ImageRecipe.home, "USER": "agent", "LANG": "C.UTF-8",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]

    /// bwrap's argv (without the executable). Every flag is a security property with a unit test:
    /// new namespaces of every kind with only `lo`, no nested user namespaces, the session leader apart from the
    /// user's terminal, death with the launcher, the host's userland read-only, and nothing else of the host but
    /// the spec's mounts. Passed-through variables are not here: their values go through `--args` on a pipe, as
    /// do all these options (see `spawnArguments`).
    public static func runArguments(
        _ spec: ContainerSpec, layout: HostLayout, sandbox: BwrapSandboxPaths, homesDirectory: String
    ) throws -> [String] {
        var arguments = [
            "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--uid", String(spec.user.uid), "--gid", String(spec.user.gid),
            "--hostname", spec.hostname,
        ]
        // Order matters: bwrap mounts in argument order, so later mounts land on top of earlier ones.
        for entry in layout.userland {
            switch entry {
            case .bind(let path): arguments += ["--ro-bind", path, path]
            case .symlink(let path, let target): arguments += ["--symlink", target, path]
            }
        }
        arguments += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp"]
        for entry in layout.etc {
            switch entry {
            case .bind(let path): arguments += ["--ro-bind", path, path]
            case .symlink(let path, let target): arguments += ["--symlink", target, path]
            }
        }
        for file in ["passwd", "group", "hosts", "hostname"] {
            arguments += ["--ro-bind", sandbox.etc + "/" + file, "/etc/" + file]
        }
        for mount in spec.mounts {
            let source: String
            switch mount.kind {
            case .bind: source = mount.source
            case .volume: source = try homeDirectory(volume: mount.source, homesDirectory: homesDirectory)
            }
            arguments += [mount.readOnly ? "--ro-bind" : "--bind", source, mount.target]
        }
        arguments += ["--chdir", spec.workingDirectory, "--clearenv"]
        var environment = baseEnvironment
        for (name, value) in spec.environment { environment[name] = value }
        for name in environment.keys.sorted() {
            arguments += ["--setenv", name, environment[name] ?? ""]
        }
        arguments += ["--seccomp", String(seccompDescriptor), "--"]
        return arguments + spec.command
    }

    /// What bwrap is started with: its options, then the variables' values, NUL-separated on a pipe it reads with
    /// `--args`, and only the command on its argv. The sandbox's pid 1 is bwrap's own process, whose command line
    /// every process inside can read: it shows no host path and no value.
    public static func spawnArguments(_ runArguments: [String], secrets: [String]) -> (argv: [String], options: String)
    {
        let separator = runArguments.firstIndex(of: "--") ?? runArguments.endIndex
        let options = Array(runArguments[..<separator]) + secrets
        return (["--args", String(optionsDescriptor)] + runArguments[separator...], options.map { $0 + "\0" }.joined())
    }

    /// `--setenv NAME VALUE` for each passed-through variable the launcher has, NUL-separated for `--args`.
    public static func secretArguments(_ spec: ContainerSpec, environment: [String: String]) -> [String] {
        spec.passthroughEnvironment.flatMap { name in
            environment[name].map { ["--setenv", name, $0] } ?? []
        } + spec.secretEnvironment.keys.sorted().flatMap { ["--setenv", $0, spec.secretEnvironment[$0] ?? ""] }
    }

    /// A named volume is a directory under paddock's state: `<state>/homes/<name>`.
    public static func homeDirectory(volume: String, homesDirectory: String) throws -> String {
        guard !volume.isEmpty, !volume.hasPrefix("."), !volume.contains("/"), !volume.contains("\0") else {
            throw PaddockError.invalidArgument("The volume name \(volume.debugDescription) cannot be a folder name.")
        }
        return homesDirectory + "/" + volume
    }

    /// The sandbox's own /etc/passwd, group, hosts and hostname: the agent's user exists (ssh and git want a name),
    /// the host's users do not.
    public static func etcFiles(_ spec: ContainerSpec) -> [String: String] {
        let (uid, gid) = (spec.user.uid, spec.user.gid)
        return [
            "passwd": """
            root:x:0:0:root:/root:/usr/sbin/nologin
            agent:x:\(uid):\(gid):agent:\(ImageRecipe.home):/bin/bash
            nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin

            """,
            "group": "root:x:0:\nagent:x:\(gid):\nnogroup:x:65534:\n",
            "hosts": "127.0.0.1\tlocalhost\n127.0.1.1\t\(spec.hostname)\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            "hostname": spec.hostname + "\n",
        ]
    }
}
