import Foundation
import PaddockCore

/// What paddock lays over a writable project so that nothing the agent writes makes the host's git run or follow
/// anything: the mounts, plus what paddock created on the host so those mounts have something to cover.
public struct MountModeProtection: Equatable, Sendable {
    /// Read-only mounts over the project, and read-write ones that pin a git directory in place (a mount point
    /// cannot be renamed or removed, so the agent cannot swap `.git` for one of its own). Apply after the project's
    /// own mount; the engine orders nested targets.
    public var mounts: [Mount]
    /// Host paths paddock created, each harmless to git: empty directories git itself would make, an empty
    /// `config.worktree`, and a `commondir` that names its own directory (git reads them; without them there, the
    /// agent could create them).
    public var created: [String]
    /// What the user should know: what stays possible, what could not be protected.
    public var warnings: [String]
    /// Whether the project's own `.git` (a directory or a file) was there and is pinned by `mounts`. When it was
    /// not, a `.git` found there after the session was made by the session (`NestedRepositoryGuard` judges it).
    public var topLevelGitPinned: Bool

    public init(mounts: [Mount] = [], created: [String] = [], warnings: [String] = [], topLevelGitPinned: Bool = false)
    {
        self.mounts = mounts
        self.created = created
        self.warnings = warnings
        self.topLevelGitPinned = topLevelGitPinned
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

    /// Directories git reads from inside a git directory, whether or not they exist yet: git treats an empty one
    /// like a missing one, so paddock creates them before covering them, and nothing new can appear in them.
    /// `info` holds attributes, excludes, grafts and sparse-checkout; `branches` and `remotes` define remotes the old
    /// way; `objects/info` holds `alternates`; `worktrees/<id>` are linked worktrees' git directories (their
    /// `config.worktree`, `commondir` and `gitdir`); `modules/<name>` are submodules' git directories, which
    /// `git submodule update --init` takes up when the work tree has no `.git` for them yet.
    static let protectedDirectories = ["hooks", "info", "branches", "remotes", "objects/info", "worktrees", "modules"]

    /// Files git reads from inside a git directory, with what paddock writes when one is missing: `commondir`
    /// redirects git to another repository's config, hooks and objects ("." names this very directory, a no-op);
    /// `config.worktree` is read as config when extensions.worktreeConfig is on (empty: no settings).
    static let protectedFiles = [("commondir", ".\n"), ("config.worktree", "")]

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
            protection.topLevelGitPinned = true
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
        protection.topLevelGitPinned = true

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

        if !(try Self.listing(dotGit + "/modules")).isEmpty {
            protection.warnings.append(
                "The project has submodules. Their git directories are protected, but the agent can rewrite each "
                    + "submodule's .git file and the index; prefer --isolate clone for untrusted work.")
        }
        protection.mounts = Self.ordered(try pinningFolders(of: protection.mounts, project: project, target: target))
        return protection
    }

    /// Adds a read-write pin for every folder between the project and what a mount covers, so none can be renamed:
    /// a folder holding a mount point can be renamed with the mount inside it, and a new folder made in its place
    /// (a read-only `tools/hooks` survives as `tools-old/hooks` while git runs the new `tools/hooks`). A folder
    /// whose parent lies in a read-only mount needs no pin, and must not get one: a read-write pin would open it.
    /// A symbolic link on the way is refused: the agent could point it elsewhere.
    func pinningFolders(of mounts: [Mount], project: String, target: String) throws -> [Mount] {
        var readOnlyByTarget: [String: Bool] = [target: false]
        for mount in mounts {
            readOnlyByTarget[mount.target] = (readOnlyByTarget[mount.target] ?? false) || mount.readOnly
        }
        var pinned = mounts
        for mount in Self.ordered(mounts) where FileSystem.isInside(mount.target, target) && mount.target != target {
            let components = mount.target.dropFirst(target.count).split(separator: "/").map(String.init)
            for depth in 1..<max(components.count, 1) {
                let folder = target + "/" + components[..<depth].joined(separator: "/")
                guard readOnlyByTarget[folder] == nil else { continue }
                let host = project + String(folder.dropFirst(target.count))
                guard FileSystem.kind(host) == .directory else {
                    throw PaddockError.fileSystem(
                        path: host,
                        message:
                            "lies on the way to \(mount.source), which git reads or runs, and is a symbolic link or "
                            + "special file: the agent could point it elsewhere. Make it a real folder, or point your "
                            + "git config at the real path, and start again.")
                }
                // The mount the folder's parent belongs to: the deepest target at or above it.
                var parent = String(folder[..<(folder.lastIndex(of: "/") ?? folder.endIndex)])
                while readOnlyByTarget[parent] == nil, let slash = parent.lastIndex(of: "/") {
                    parent = String(parent[..<slash])
                }
                guard readOnlyByTarget[parent] == false else { continue }
                pinned.append(.bind(host, at: folder, readOnly: false))
                readOnlyByTarget[folder] = false
            }
        }
        return pinned
    }

    /// The names in a directory of the git directory; one that cannot be read is refused rather than passed over,
    /// because what paddock cannot list it cannot protect.
    static func listing(_ directory: String) throws -> [String] {
        guard FileSystem.kind(directory) == .directory else { return [] }
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw PaddockError.fileSystem(
                path: directory,
                message: "could not be read (\(error)), so paddock cannot protect what is inside. Make it readable "
                    + "(`chmod u+rx`) and start again.")
        }
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

        for (name, placeholder) in Self.protectedFiles {
            let path = gitDirectory + "/" + name
            switch FileSystem.kind(path) {
            case .file: break
            case .missing:
                try FileSystem.createExclusively(path, contents: placeholder)
                protection.created.append(path)
            default: throw refuse(path, "is a symbolic link or special file")
            }
            protection.mounts.append(.bind(path, at: target + "/" + name, readOnly: true))
        }

        // Existing submodules stay usable: each git directory is pinned read-write over the read-only `modules`,
        // with the same protections inside.
        try protectModules(gitDirectory + "/modules", at: target + "/modules", into: &protection)
    }

    /// Submodule git directories live at `modules/<name>`, where a name may itself contain slashes.
    func protectModules(_ directory: String, at target: String, into protection: inout MountModeProtection) throws {
        for name in try Self.listing(directory) {
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

    /// Parents before children, then by target, without duplicates (read-only wins over a pin of the same target).
    static func ordered(_ mounts: [Mount]) -> [Mount] {
        var seen: Set<String> = []
        return mounts.sorted { $0.readOnly && !$1.readOnly }.filter { seen.insert($0.target).inserted }
            .sorted {
                ($0.target.split(separator: "/").count, $0.target) < ($1.target.split(separator: "/").count, $1.target)
            }
    }
}
