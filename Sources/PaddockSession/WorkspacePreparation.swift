import Foundation
import PaddockCore
import PaddockEngine
import PaddockWorkspace

/// How the agent's work reaches the sandbox: the project mounted (with git's executable parts read-only), or a
/// per-session clone per repository; and what happens to that work when the session ends.
struct WorkspacePreparation {
    enum Isolation: String, CaseIterable {
        case mount
        case clone
    }

    struct Repository: Equatable {
        var hostPath: String
        var target: String
        /// Set when several repositories share /workspace.
        var name: String?
    }

    struct Prepared {
        var mounts: [Mount] = []
        /// The project itself at /workspace (checked by the planner), or nil when `mounts` carry the workspace.
        var workspaceSource: String?
        var clones: [(sessionID: String, name: String)] = []
        var mountedRepositories: [MountedProject] = []
        /// Host folders other than the project that the agent gets read-write (`--repo` folders, clones).
        var workspaces: [String] = []
        var sessionID = ""
        /// Taken before the sandbox starts: anything git-shaped changed after it is the session's doing.
        var startedAt = Date()
    }

    var context: AppContext
    var isolation: Isolation
    var carry: Bool
    var allowDangerousMounts: Bool

    var git: Git { Git(runner: context.runner) }
    var cloneStore: CloneStore { CloneStore(root: context.paths.clonesDirectory, git: git) }

    /// `--repo` paths become /workspace/<name>; with none, the project is /workspace.
    static func repositories(
        project: String, repoArguments: [String], currentDirectory: String, home: String
    ) throws -> [Repository] {
        guard !repoArguments.isEmpty else {
            return [Repository(hostPath: project, target: ImageRecipe.workspace, name: nil)]
        }
        var seen = Set<String>()
        return try repoArguments.map { argument in
            let path = MountPolicy.resolve(argument, home: home, relativeTo: currentDirectory)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw PaddockError.invalidArgument("--repo \(argument): \(path) is not a folder.")
            }
            let name = ProjectNaming.slug(forProject: path)
            guard seen.insert(name).inserted else {
                throw PaddockError.invalidArgument(
                    "Two --repo folders would both appear as /workspace/\(name); rename one of them.")
            }
            return Repository(hostPath: path, target: ImageRecipe.workspace + "/" + name, name: name)
        }
    }

    func prepare(_ repositories: [Repository], sessionID: SessionID) async throws -> Prepared {
        let policy = MountPolicy(home: context.paths.home, paddockPaths: context.paths)
        var prepared = Prepared(sessionID: sessionID.rawValue, startedAt: Date())
        for repository in repositories {
            try policy.check(repository.hostPath, allowDangerous: allowDangerousMounts)
            switch isolation {
            case .mount:
                if repository.target == ImageRecipe.workspace {
                    prepared.workspaceSource = repository.hostPath
                } else {
                    prepared.mounts.append(.bind(repository.hostPath, at: repository.target, readOnly: false))
                    prepared.workspaces.append(repository.hostPath)
                }
                let protection = try await MountModeGuard(git: git, home: context.paths.home)
                    .protect(project: repository.hostPath, target: repository.target)
                prepared.mounts += protection.mounts
                prepared.mountedRepositories.append(
                    MountedProject(path: repository.hostPath, topLevelGitPinned: protection.topLevelGitPinned))
                for warning in protection.warnings { context.say("paddock: \(SafeText.line(warning))") }
                if let access = WorkspaceAccess.of(repository.hostPath),
                    let warning = access.warning(
                        path: repository.hostPath,
                        sandboxUser: context.sandboxUser,
                        hostUID: context.hostUID)
                {
                    context.say("paddock: \(warning)")
                }
            case .clone:
                let user = context.sandboxUser
                // The sandbox user must own the clone; that differs from the host user only when the host is root.
                let owner = user.uid == context.hostUID ? nil : FileOwner(uid: user.uid, gid: user.gid)
                let session = try await cloneStore.create(
                    CloneRequest(
                        hostPath: repository.hostPath, sessionID: sessionID.rawValue, name: repository.name,
                        target: repository.target, carry: carry, owner: owner))
                prepared.mounts += session.mounts
                prepared.workspaces.append(session.paths.clone)
                prepared.clones.append((sessionID.rawValue, session.record.name))
                for line in session.lines { context.say("paddock: \(SafeText.line(line))") }
            }
        }
        return prepared
    }

    /// After the container is gone: disarm git repositories the agent planted or changed inside a mounted project
    /// (the host's git would obey their config and hooks), land each clone's work or keep the clone. Nothing is
    /// deleted. Returns whether the guard checked every mounted project (false leaves it pending for `clean`).
    func finish(_ prepared: Prepared) async -> Bool {
        let guarded = Self.guardMounted(
            prepared.mountedRepositories, sessionID: prepared.sessionID, since: prepared.startedAt, context: context)
        for clone in prepared.clones {
            do {
                let report = try await cloneStore.land(sessionID: clone.sessionID, name: clone.name)
                for line in report.lines { context.say("paddock: \(SafeText.line(line))") }
            } catch {
                let path = cloneStore.paths(sessionID: clone.sessionID, name: clone.name).clone
                context.say(
                    "paddock: could not land the session's work (\(SafeText.line("\(error)"))); the clone stays at \(path)."
                )
            }
        }
        return guarded
    }

    /// The guard over mounted projects, for a session that ended here and for one `paddock clean` finishes.
    /// False when a project could not be checked: the session stays pending, and `paddock clean` tries again.
    @discardableResult
    static func guardMounted(_ projects: [MountedProject], sessionID: String, since start: Date, context: AppContext)
        -> Bool
    {
        var checkedAll = true
        for project in projects {
            do {
                let report = try NestedRepositoryGuard().quarantine(
                    project: project.path, sessionID: sessionID, sessionStart: start,
                    topLevelGitPinned: project.topLevelGitPinned)
                for line in report.lines { context.say("paddock: \(SafeText.line(line))") }
            } catch {
                checkedAll = false
                context.say(
                    "paddock: could not check \(project.path) for git repositories the agent planted (\(SafeText.line("\(error)"))). Before "
                        + "running git there, look for .git folders and files below the top level; `paddock clean` tries again."
                )
            }
        }
        return checkedAll
    }
}
