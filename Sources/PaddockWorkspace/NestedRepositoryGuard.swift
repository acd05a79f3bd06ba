import Foundation
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// After a mount-mode session: takes away every nested repository the agent created or changed, so the host's git
/// never obeys it. A gitlink to `sub` plus `sub/.git/config` with `core.fsmonitor` makes the user's next plain
/// `git status` in the project run the agent's program; so does any git command run inside such a directory.
/// The top-level `.git`, when the project had one, is pinned by `MountModeGuard`'s mounts and is not judged here,
/// except for the rebase state git writes in ordinary use (there and in each submodule's git directory).
public struct NestedRepositoryGuard: Sendable {
    /// How long before the session start a change still counts as the session's. File systems store ctime coarsely
    /// (HFS+ to the second, FAT to two seconds, Linux from a clock a tick behind), so a change made just after the
    /// start can carry an earlier stamp; erring this way quarantines a repository touched just before, never less.
    public var clockSlack: TimeInterval

    public init(clockSlack: TimeInterval = 2) {
        self.clockSlack = clockSlack
    }

    /// Finds every `.git` entry (directory, file or link) below `project` other than a pinned `project/.git`, and
    /// every directory git would take for a bare repository, and renames each one created or changed since
    /// `sessionStart` (by ctime, of the entry and of everything inside it or that it points to within the project)
    /// to `<name>.paddock-quarantined-<sessionID>`. What it cannot read it treats as changed: it lends itself
    /// access to the user's own folders for the look (and gives their modes back), and takes away whole a folder
    /// that is not theirs. Run it only once the container is gone.
    /// - Parameter topLevelGitPinned: `MountModeProtection.topLevelGitPinned`; when false, a `.git` at the top (or
    ///   the project folder itself shaped as a repository) is the session's and is judged like a nested one.
    public func quarantine(
        project: String, sessionID: String, sessionStart: Date, topLevelGitPinned: Bool = true
    ) throws -> NestedRepositoryReport {
        try WorkspaceName.validate(sessionID, what: "Session id")
        let root = RawPath(FileSystem.canonical(project))
        let rootDirectory: OpenedDirectory
        switch RawDirectory.openForScan(AT_FDCWD, root) {
        case .success(let opened): rootDirectory = opened
        case .failure(let error):
            throw PaddockError.fileSystem(
                path: root.display,
                message: "could not be read to look for repositories the "
                    + "session created: \(error). Do not run git in it until you have looked for new .git entries.")
        }
        defer { rootDirectory.close() }
        var scan = NestedRepositoryScan(
            project: root, topLevelGitPinned: topLevelGitPinned,
            threshold: sessionStart.timeIntervalSince1970 - clockSlack,
            suffix: RawPath(".paddock-quarantined-" + sessionID))
        scan.walk(rootDirectory, root, isRoot: true)
        scan.checkOperationsInProgress()
        return scan.report
    }
}
