import Foundation

/// Decides which host paths may be shown to the sandbox. A path is refused when it is, contains, or lies inside
/// something that hands the agent the machine: the home itself, `/`, credentials, an engine socket, or paddock's
/// own config and state (where trust records live).
public struct MountPolicy: Sendable {
    public var home: String
    public var paddockPaths: PaddockPaths

    public init(home: String, paddockPaths: PaddockPaths) {
        self.home = ((home as NSString).standardizingPath as NSString).resolvingSymlinksInPath
        var resolved = paddockPaths
        resolved.configDirectory = (paddockPaths.configDirectory as NSString).resolvingSymlinksInPath
        resolved.stateDirectory = (paddockPaths.stateDirectory as NSString).resolvingSymlinksInPath
        self.paddockPaths = resolved
    }

    /// Credential folders under the home, relative to it.
    public static let secretHomePaths = [
        ".ssh", ".aws", ".gnupg", ".config/gcloud", ".kube", ".docker", ".azure", ".netrc", ".git-credentials",
        ".config/gh", ".npmrc", ".pypirc", ".local/share/containers", ".config/containers",
    ]

    /// Folders under the home where engines and their VMs keep their sockets (Colima, OrbStack, Rancher Desktop,
    /// Lima, Docker Desktop on macOS, rootless Docker's data).
    public static let engineHomePaths = [
        ".colima", ".orbstack", ".rd", ".lima", "Library/Containers/com.docker.docker", ".local/share/docker",
    ]

    /// How many entries of a mounted folder are searched for sockets before the search gives up.
    public static let socketSearchLimit = 10_000

    /// Engine sockets and their usual folders, and the engines' storage (which holds every sandbox's home).
    public static let socketPaths = [
        "/var/run/docker.sock", "/run/docker.sock", "/var/run/podman", "/run/podman", "/run/containerd",
        "/var/run/containerd", "/run/user", "/var/lib/docker", "/var/lib/containers",
    ]

    /// Why `path` must not be mounted, or nil when it may be.
    public func refusal(for rawPath: String) -> String? {
        let path = (rawPath as NSString).standardizingPath
        if path == "/" { return "it is the whole file system" }
        if path == home { return "it is your home folder, with every credential in it" }
        if isInside(home, path) {
            return "it contains your home folder, with every credential in it"
        }
        for secret in Self.secretHomePaths {
            let secretPath = home + "/" + secret
            if path == secretPath || isInside(path, secretPath) { return "it holds credentials (~/\(secret))" }
            if isInside(secretPath, path) { return "it contains credentials (~/\(secret))" }
        }
        for own in [paddockPaths.configDirectory, paddockPaths.stateDirectory] {
            if path == own || isInside(path, own) || isInside(own, path) {
                return "it holds paddock's own configuration or state, which decides what the sandbox may do"
            }
        }
        let engineFolders = Self.socketPaths + Self.engineHomePaths.map { home + "/" + $0 }
        for socket in engineFolders {
            if path == socket || isInside(path, socket) || isInside(socket, path) {
                return "it gives control of a container engine, which is control of the host"
            }
        }
        if path.hasSuffix(".sock") || path.hasSuffix("/docker.sock")
            || (path as NSString).lastPathComponent.contains("docker.sock")
        {
            return "it looks like an engine socket, which is control of the host"
        }
        return nil
    }

    /// Throws the refusal for `path` unless `allowDangerous`. `socketInside` answers whether the path is, or holds,
    /// a unix socket (see `findSocket`).
    public func check(_ path: String, allowDangerous: Bool, socketInside: (String) -> String? = { _ in nil }) throws {
        guard !allowDangerous else { return }
        if let reason = refusal(for: path) {
            throw PaddockError.dangerousMount(path: path, reason: reason)
        }
        if let socket = socketInside(path) {
            throw PaddockError.dangerousMount(
                path: path,
                reason:
                    "it holds a socket (\(socket)), and a socket reaches a program outside the sandbox: an engine, an ssh-agent, a desktop session"
            )
        }
    }

    /// Is `inner` strictly inside `outer`?
    func isInside(_ inner: String, _ outer: String) -> Bool {
        let prefix = outer.hasSuffix("/") ? outer : outer + "/"
        return inner.hasPrefix(prefix)
    }

    /// The path as the user wrote it, made absolute: `~` expanded, a relative path put under `base`; nothing
    /// else touched (a `..` after a link means what the kernel makes of it, see `PathResolution`).
    public static func expand(_ path: String, home: String, relativeTo base: String) -> String {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return home + path.dropFirst(1) }
        return path.hasPrefix("/") ? path : base + "/" + path
    }
}
