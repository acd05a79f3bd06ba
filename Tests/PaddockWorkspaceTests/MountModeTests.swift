import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

@testable import PaddockWorkspace

@Suite("Mount mode protections (host side)")
struct MountModeTests {
    /// A guard whose `git config --list` answers `listing`.
    func guardAnswering(_ listing: String = "") -> MountModeGuard {
        MountModeGuard(
            git: Git(runner: RecordingRunner { _ in ProcessOutput(status: 0, stdout: listing, stderr: "") }),
            home: "/home/user")
    }

    /// A project with the submodule `vendor/lib`, as the user would have made it; the caller removes `directory`.
    func projectWithSubmodule(_ label: String) throws -> (directory: TestDirectory, project: String) {
        let directory = try TestDirectory(label)
        let project = directory.path + "/p"
        try makeRepository(project)
        try makeRepository(directory.path + "/lib")
        try sh("git -c protocol.file.allow=always submodule --quiet add ../lib vendor/lib", in: project)
        return (directory, project)
    }

    @Test func coversEverythingGitRunsOrFollowsAndCreatesMissingPiecesHarmlessly() async throws {
        let directory = try TestDirectory("mount")
        defer { directory.remove() }
        let project = directory.path + "/p"
        try makeRepository(project)
        try sh("rm -rf .git/hooks .git/info .git/branches", in: project)

        let protection = try await guardAnswering().protect(project: project)
        let git = project + "/.git"
        let readOnly = Set(protection.mounts.filter(\.readOnly).map(\.target))
        // Issue 10: also what does not exist yet (a new submodule's or worktree's git directory, a per-worktree
        // config that extensions.worktreeConfig would read), so nothing new can appear where git looks.
        #expect(
            readOnly == [
                "/workspace/.git/config", "/workspace/.git/hooks", "/workspace/.git/info", "/workspace/.git/branches",
                "/workspace/.git/remotes", "/workspace/.git/objects/info", "/workspace/.git/commondir",
                "/workspace/.git/config.worktree", "/workspace/.git/worktrees", "/workspace/.git/modules",
            ])
        // Read-write pins hold the folders on the way in place: a folder holding a mount point can still be renamed.
        #expect(
            Set(protection.mounts.filter { !$0.readOnly }.map(\.target)) == [
                "/workspace/.git", "/workspace/.git/objects",
            ])
        #expect(protection.mounts.first == .bind(git, at: "/workspace/.git", readOnly: false))
        #expect(protection.mounts.allSatisfy { $0.source == project + String($0.target.dropFirst("/workspace".count)) })
        #expect(
            Set(protection.created) == [
                git + "/hooks", git + "/info", git + "/branches", git + "/remotes", git + "/commondir",
                git + "/config.worktree", git + "/worktrees", git + "/modules",
            ])
        #expect(try String(contentsOfFile: git + "/commondir", encoding: .utf8) == ".\n")
        #expect(try String(contentsOfFile: git + "/config.worktree", encoding: .utf8).isEmpty)
        #expect(protection.warnings.isEmpty, "an empty modules folder is not a project with submodules")
        // What paddock created leaves the user's git working as before.
        #expect(try gitOutput("rev-parse --path-format=absolute --git-common-dir", in: project) == git)
        #expect(try gitOutput("status --porcelain", in: project).isEmpty)
        try sh(
            "git config extensions.worktreeConfig true && git status -s && git config --unset extensions.worktreeConfig",
            in: project)
        try makeRepository(directory.path + "/lib")
        try sh(
            "git -c protocol.file.allow=always submodule --quiet add ../lib lib && git commit -qm lib && git commit -q --allow-empty -m third "
                + "&& git worktree add -q ../wt && git fsck", in: project)

        // A second run creates nothing but the new submodule's placeholders, and covers what now exists.
        let again = try await guardAnswering().protect(project: project)
        #expect(!again.created.isEmpty && again.created.allSatisfy { $0.hasPrefix(git + "/modules/lib/") })
        #expect(again.mounts.contains(.bind(git + "/worktrees", at: "/workspace/.git/worktrees", readOnly: true)))
        #expect(again.mounts.contains(.bind(git + "/modules/lib", at: "/workspace/.git/modules/lib", readOnly: false)))
    }

    /// The attack the pins must survive: renaming a folder that holds a read-only mount moves the mount along,
    /// and the agent makes a new folder with its own hooks in its place (seen on Docker). Every folder between the
    /// project and what is protected is pinned in place; inside a read-only mount nothing needs pinning.
    @Test func pinsEveryFolderOnTheWayToWhatItProtects() async throws {
        let (directory, project) = try projectWithSubmodule("ancestors")
        defer { directory.remove() }
        try sh(
            """
            mkdir -p tools/git/hooks etc/git && touch etc/git/extra.cfg && git config core.hooksPath tools/git/hooks \
              && git config include.path ../etc/git/extra.cfg
            """, in: project)
        let listing = try sh("git config --list --show-scope --show-origin -z", in: project)
        let protection = try await guardAnswering(listing).protect(project: project)
        let pins = Set(protection.mounts.filter { !$0.readOnly }.map(\.target))
        let readOnly = Set(protection.mounts.filter(\.readOnly).map(\.target))
        #expect(readOnly.isSuperset(of: ["/workspace/tools/git/hooks", "/workspace/etc/git/extra.cfg"]))
        #expect(
            pins == [
                "/workspace/.git", "/workspace/.git/objects", "/workspace/tools", "/workspace/tools/git",
                "/workspace/etc", "/workspace/etc/git", "/workspace/.git/modules/vendor/lib",
                "/workspace/.git/modules/vendor/lib/objects",
            ])
        // `.git/modules/vendor` lies inside the read-only `.git/modules`: a read-write pin there would open it.
        #expect(!pins.contains("/workspace/.git/modules/vendor"))
        #expect(protection.mounts.allSatisfy { $0.source == project + String($0.target.dropFirst("/workspace".count)) })

        // A link on the way could be pointed elsewhere by the agent: refused, as links inside .git are.
        try sh("mv tools real-tools && ln -s real-tools tools", in: project)
        await #expect(throws: PaddockError.self) { try await guardAnswering(listing).protect(project: project) }
    }

    @Test func refusesLinksInsideTheGitDirectory() async throws {
        let directory = try TestDirectory("links")
        defer { directory.remove() }
        let project = directory.path + "/p"
        try makeRepository(project)
        try sh("mkdir ../elsewhere && rm -rf .git/hooks && ln -s ../../elsewhere .git/hooks", in: project)
        await #expect(throws: PaddockError.self) { try await guardAnswering().protect(project: project) }

        try sh("rm .git/hooks && mkdir .git/hooks && ln -s /etc/passwd .git/commondir", in: project)
        await #expect(throws: PaddockError.self) { try await guardAnswering().protect(project: project) }
    }

    @Test func protectsAGitFilePointerAndWarnsOutsideGit() async throws {
        let directory = try TestDirectory("gitfile")
        defer { directory.remove() }
        let main = directory.path + "/main"
        try makeRepository(main)
        try sh("git worktree add -q ../linked", in: main)
        let linked = try await guardAnswering().protect(project: directory.path + "/linked")
        #expect(linked.mounts == [.bind(directory.path + "/linked/.git", at: "/workspace/.git", readOnly: true)])
        #expect(!linked.warnings.isEmpty)

        try FileManager.default.createDirectory(atPath: directory.path + "/plain", withIntermediateDirectories: true)
        let plain = try await guardAnswering().protect(project: directory.path + "/plain")
        #expect(plain.mounts.isEmpty && plain.warnings.count == 1)
    }

    @Test func protectsSubmoduleGitDirectories() async throws {
        let (directory, project) = try projectWithSubmodule("modules")
        defer { directory.remove() }
        let protection = try await guardAnswering().protect(project: project)
        let module = "/workspace/.git/modules/vendor/lib"
        #expect(protection.mounts.contains(.bind(project + "/.git/modules/vendor/lib", at: module, readOnly: false)))
        for name in ["config", "hooks", "commondir", "info"] {
            #expect(protection.mounts.contains { $0.target == module + "/" + name && $0.readOnly })
        }
    }

    @Test func configFilesAndHooksInsideTheProjectBecomeReadOnly() async throws {
        let directory = try TestDirectory("config")
        defer { directory.remove() }
        let project = directory.path + "/p"
        try makeRepository(project)
        try sh(
            "printf '[core]\\n\\thooksPath = .githooks\\n' > .gitconfig && mkdir -p scripts && touch scripts/clean.sh",
            in: project)
        try sh("git config include.path ../.gitconfig && git config filter.x.clean 'scripts/clean.sh %f'", in: project)
        // The real listing of this repository, so the parser meets git's own output.
        let listing = try sh("git config --list --show-scope --show-origin -z", in: project)
        let protection = try await guardAnswering(listing).protect(project: project)
        #expect(protection.mounts.contains(.bind(project + "/.gitconfig", at: "/workspace/.gitconfig", readOnly: true)))
        #expect(protection.mounts.contains(.bind(project + "/.githooks", at: "/workspace/.githooks", readOnly: true)))
        #expect(
            protection.mounts.contains(
                .bind(project + "/scripts/clean.sh", at: "/workspace/scripts/clean.sh", readOnly: true)))
        #expect(protection.created.contains(project + "/.githooks"))

        try sh("git config includeIf.onbranch:evil.path ../not-yet.cfg", in: project)
        let blocked = try sh("git config --list --show-scope --show-origin -z", in: project)
        await #expect(throws: PaddockError.self) { try await guardAnswering(blocked).protect(project: project) }
    }

    @Test func configScanParsesGitListing() {
        let listing = "local\0file:.git/config\0core.bare\nfalse\0command\0command line:\0flag\0"
        #expect(
            GitConfigEntry.parse(listing) == [
                GitConfigEntry(scope: "local", origin: ".git/config", key: "core.bare", value: "false"),
                GitConfigEntry(scope: "command", origin: nil, key: "flag", value: nil),
            ])
        let entries = [
            GitConfigEntry(scope: "local", origin: ".git/config", key: "core.fsmonitor", value: "true"),
            GitConfigEntry(scope: "global", origin: "/home/user/.gitconfig", key: "core.pager", value: "less"),
            GitConfigEntry(scope: "local", origin: ".git/config", key: "alias.x", value: "!./tools/x.sh --go"),
        ]
        let findings = GitConfigScan.analyze(
            entries, project: "/p", gitDirectory: "/p/.git", home: "/home/user",
            kind: { $0 == "/p/tools/x.sh" ? .file : .missing })
        #expect(findings.readOnlyFiles == ["/p/tools/x.sh"])
        #expect(findings.blockers.isEmpty && findings.warnings.count == 1)
    }
}
