import Foundation
import PaddockCore

/// What paddock lays over a writable project so that nothing the agent writes makes the host's git run or follow
/// anything: the mounts, plus what paddock created on the host so those mounts have something to cover.
public struct MountModeProtection: Equatable, Sendable {
    /// Read-only mounts over the project, and read-write ones that pin a git directory in place (a mount point
    /// cannot be renamed or removed, so the agent cannot swap `.git` for one of its own). Apply after the project's
    /// own mount; the engine orders nested targets.
    public var mounts: [Mount]
    /// Host paths paddock created, each harmless to git: empty directories git itself would make, and a
    /// `commondir` that names its own directory (git reads it; without it there, the agent could create one).
    public var created: [String]
    /// What the user should know: what stays possible, what could not be protected.
    public var warnings: [String]

    public init(mounts: [Mount] = [], created: [String] = [], warnings: [String] = []) {
        self.mounts = mounts
        self.created = created
        self.warnings = warnings
    }
}

/// Mount mode made safer (issue 4): the project stays writable at `/workspace`, the host's git does not obey it.
public struct MountModeGuard: Sendable {
    public var git: Git
    /// The host user's home, for `~/` in git config.
    public var home: String

    public init(git: Git, home: String = NSHomeDirectory()) {
        self.git = git
        self.home = home
    }

    /// Directories git reads from inside a git directory and that may be missing: git treats an empty one like a
    /// missing one, so paddock creates them before covering them. `info` holds attributes, excludes and grafts;
    /// `branches` and `remotes` define remotes the old way; `objects/info` holds `alternates`.
    static let protectedDirectories = ["hooks", "info", "branches", "remotes", "objects/info"]

    /// The mounts (and host preparation, already done when this returns) for `project` mounted at `target`.
    /// A project that is not a git repository gets no mounts and a warning.
    public func protect(project: String, target: String = "/workspace") async throws -> MountModeProtection {
        let project = FileSystem.canonical(project)
        let dotGit = project + "/.git"
        var protection = MountModeProtection()
        switch FileSystem.kind(dotGit) {
        case .missing:
            protection.warnings.append(
                "\(project) is not a git repository. If the agent creates one there, do not run git in it "
                    + "before you have read its .git/config and .git/hooks.")
            return protection
        case .file:
            // A linked worktree or a submodule checkout: the pointer itself must not move.
            protection.mounts.append(.bind(dotGit, at: target + "/.git", readOnly: true))
            protection.warnings.append(
                "\(dotGit) points to a git directory outside the project, so git does not work inside the sandbox. "
                    + "Use --isolate clone to give the agent a repository of its own.")
            return protection
        case .directory:
            break
        case .symbolicLink, .other:
            throw refuse(dotGit, "is a symbolic link or special file")
        }

        try protectGitDirectory(dotGit, at: target + "/.git", into: &protection)

        let listing = try await git.run(
            git.plain(["config", "--list", "--show-scope", "--show-origin", "-z"], in: project))
        let findings = GitConfigScan.analyze(
            GitConfigEntry.parse(listing), project: project, gitDirectory: dotGit, home: home,
            kind: FileSystem.kind)
        if let blocker = findings.blockers.first { throw PaddockError.invalidArgument(blocker) }
        for directory in findings.directoriesToCreate.sorted() {
            try FileSystem.createDirectory(directory)
            protection.created.append(directory)
        }
        for path in findings.readOnlyFiles.union(findings.readOnlyDirectories).union(findings.directoriesToCreate) {
            let relative = String(path.dropFirst(project.count))
            protection.mounts.append(.bind(path, at: target + relative, readOnly: true))
        }
        protection.warnings += findings.warnings

        if FileSystem.kind(dotGit + "/modules") == .directory {
            protection.warnings.append(
                "The project has submodules. Their git directories are protected, but the agent can rewrite each "
                    + "submodule's .git file and the index; prefer --isolate clone for untrusted work.")
        }
        protection.mounts = Self.ordered(protection.mounts)
        return protection
    }

    /// Protects one git directory (the project's, or a submodule's under `modules/`), then its submodules.
    func protectGitDirectory(_ gitDirectory: String, at target: String, into protection: inout MountModeProtection)
        throws
    {
        protection.mounts.append(.bind(gitDirectory, at: target, readOnly: false))

        switch FileSystem.kind(gitDirectory + "/config") {
        case .file: protection.mounts.append(.bind(gitDirectory + "/config", at: target + "/config", readOnly: true))
        case .missing: throw refuse(gitDirectory + "/config", "is missing; this does not look like a git directory")
        default: throw refuse(gitDirectory + "/config", "is a symbolic link or special file")
        }

        for name in Self.protectedDirectories {
            let path = gitDirectory + "/" + name
            switch FileSystem.kind(path) {
            case .directory: break
            case .missing:
                try FileSystem.createDirectory(path)
                protection.created.append(path)
            default: throw refuse(path, "is a symbolic link or special file")
            }
            protection.mounts.append(.bind(path, at: target + "/" + name, readOnly: true))
        }

        // `commondir` redirects git to another repository's config, hooks and objects; `config.worktree` is read
        // when extensions.worktreeConfig is on (the read-only config decides that). Both are covered whether or
        // not they exist; a missing `commondir` becomes "." (this very directory), which git reads as a no-op.
        let commondir = gitDirectory + "/commondir"
        switch FileSystem.kind(commondir) {
        case .file: break
        case .missing:
            try FileSystem.createExclusively(commondir, contents: ".\n")
            protection.created.append(commondir)
        default: throw refuse(commondir, "is a symbolic link or special file")
        }
        protection.mounts.append(.bind(commondir, at: target + "/commondir", readOnly: true))

        for name in ["config.worktree", "worktrees"] {
            let path = gitDirectory + "/" + name
            switch FileSystem.kind(path) {
            case .missing: continue
            case .file, .directory: protection.mounts.append(.bind(path, at: target + "/" + name, readOnly: true))
            default: throw refuse(path, "is a symbolic link or special file")
            }
        }

        let modules = gitDirectory + "/modules"
        switch FileSystem.kind(modules) {
        case .missing: return
        case .directory: try protectModules(modules, at: target + "/modules", into: &protection)
        default: throw refuse(modules, "is a symbolic link or special file")
        }
    }

    /// Submodule git directories live at `modules/<name>`, where a name may itself contain slashes.
    func protectModules(_ directory: String, at target: String, into protection: inout MountModeProtection) throws {
        for name in FileSystem.children(directory) {
            let path = directory + "/" + name
            switch FileSystem.kind(path) {
            case .directory:
                if FileSystem.kind(path + "/HEAD") != .missing {
                    try protectGitDirectory(path, at: target + "/" + name, into: &protection)
                } else {
                    try protectModules(path, at: target + "/" + name, into: &protection)
                }
            case .symbolicLink: throw refuse(path, "is a symbolic link")
            default: continue
            }
        }
    }

    func refuse(_ path: String, _ reason: String) -> PaddockError {
        .fileSystem(
            path: path,
            message: "\(reason). paddock does not follow links or special files inside a git directory, because "
                + "the agent may have planted them. Replace it with a regular file or directory and start again.")
    }

    /// Parents before children, then by target, without duplicates.
    static func ordered(_ mounts: [Mount]) -> [Mount] {
        var seen: Set<String> = []
        return mounts.filter { seen.insert($0.target).inserted }
            .sorted { ($0.target.split(separator: "/").count, $0.target) < ($1.target.split(separator: "/").count, $1.target) }
    }
}
