import Foundation
import PaddockCore
import PaddockEngine
import Testing

@testable import PaddockWorkspace

#if canImport(Glibc)
    import Glibc
#endif

/// The nested-repository hole in mount mode, written as attacks on real git first, then the quarantine that closes it.
@Suite("Nested repositories after a mount-mode session")
struct NestedRepositoryGuardTests {
    let session = SessionID.make().rawValue

    /// A scratch project with a fsmonitor script outside it that leaves a marker when the host's git runs it.
    struct Trap {
        let directory: TestDirectory
        let project: String
        let script: String
        let marker: String

        init(_ label: String) throws {
            directory = try TestDirectory(label)
            project = directory.path + "/project"
            script = directory.path + "/fsmonitor.sh"
            marker = directory.path + "/MARKER"
            try makeRepository(project)
            try "#!/bin/sh\ntouch \"\(marker)\"\nexit 0\n".write(toFile: script, atomically: true, encoding: .utf8)
            try sh("chmod +x fsmonitor.sh", in: directory.path)
        }

        /// What the host user does after the session: plain git, their own config, nothing hardened.
        func hostGit(_ arguments: [String], in subdirectory: String = "") async throws -> ProcessOutput {
            try? FileManager.default.removeItem(atPath: marker)
            return try await SubprocessRunner().capture(
                Command(
                    "git", arguments, workingDirectory: subdirectory.isEmpty ? project : project + "/" + subdirectory))
        }

        var markerExists: Bool { FileManager.default.fileExists(atPath: marker) }
    }

    /// As the agent: a repository in `sub` whose config names the fsmonitor script, added to the index as a gitlink.
    func plantNestedRepository(_ trap: Trap, at path: String = "sub") throws {
        try sh(
            """
            mkdir -p "$SUB" && cd "$SUB" && git init -q -b main . && echo x > x && git add x \
              && git -c user.name=Agent -c user.email=agent@example.invalid commit -q -m planted \
              && git config core.fsmonitor "$SCRIPT" && cd "$PROJECT" && git add "$SUB" 2>/dev/null
            """, in: trap.project, environment: ["SUB": path, "SCRIPT": trap.script, "PROJECT": trap.project])
    }

    /// As the user: the submodule `sub`, cloned from a repository next to the project.
    func addSubmodule(_ trap: Trap) throws {
        let upstream = trap.directory.path + "/upstream"
        try makeRepository(upstream)
        try sh(
            "git -c protocol.file.allow=always submodule add -q \"$UPSTREAM\" sub && git commit -qm submodule",
            in: trap.project, environment: ["UPSTREAM": upstream])
    }

    /// The newest ctime of anything at or below `path`, without following links.
    func newestChange(_ path: String) -> Date {
        var newest = 0.0
        for item in [""] + (FileManager.default.subpaths(atPath: path) ?? []) {
            if case .success(let status) = RawDirectory.status(RawPath(item.isEmpty ? path : path + "/" + item)) {
                newest = max(newest, status.changed)
            }
        }
        return Date(timeIntervalSince1970: newest)
    }

    @Test func controlANestedRepositoryMakesThePlainHostGitRunTheAgentsProgram() async throws {
        let trap = try Trap("nested-control")
        defer { trap.directory.remove() }
        try plantNestedRepository(trap)

        let status = try await trap.hostGit(["status", "--porcelain"])
        #expect(status.succeeded)
        #expect(trap.markerExists, "the trap must be live, or the next test proves nothing")
        _ = try await trap.hostGit(["status"], in: "sub")
        #expect(trap.markerExists)
    }

    @Test func quarantineDisarmsTheNestedRepositoryAndKeepsEverything() async throws {
        let trap = try Trap("nested-quarantine")
        defer { trap.directory.remove() }
        let start = Date()
        try plantNestedRepository(trap)
        // The agent also takes the quarantine name, hoping the rename fails or replaces it.
        try sh("mkdir sub/.git.paddock-quarantined-\(session)", in: trap.project)

        let report = try NestedRepositoryGuard().quarantine(
            project: trap.project, sessionID: session, sessionStart: start)

        _ = try await trap.hostGit(["status", "--porcelain"])
        #expect(!trap.markerExists)
        _ = try await trap.hostGit(["status"], in: "sub")
        #expect(!trap.markerExists)

        let renamed = trap.project + "/sub/.git.paddock-quarantined-\(session)-2"
        #expect(!exists(trap.project + "/sub/.git"))
        #expect(try String(contentsOfFile: renamed + "/config", encoding: .utf8).contains(trap.script))
        #expect(exists(renamed + "/HEAD.paddock-quarantined-\(session)"))
        #expect(exists(trap.project + "/sub/x"))
        #expect(exists(trap.project + "/sub/.git.paddock-quarantined-\(session)"))

        let entry = try #require(report.quarantined.first)
        #expect(report.quarantined.count == 1)
        #expect(entry.path == "sub/.git")
        #expect(entry.kind == .directory)
        #expect(entry.renamed.first == .init(from: "sub/.git", to: "sub/.git.paddock-quarantined-\(session)-2"))
        #expect(entry.changes.contains("sub/.git/config"))
        #expect(report.failures.isEmpty)
        #expect(report.lines.contains { $0.contains("Quarantined sub/.git") })
        print(report.lines.joined(separator: "\n"))
    }

    @Test func anUntouchedVendoredRepositoryIsLeftAlone() throws {
        let trap = try Trap("nested-vendored")
        defer { trap.directory.remove() }
        let vendored = trap.project + "/vendor/lib"
        try makeRepository(vendored)
        // Exactly after the newest change in it, with no slack, so no sleeping is needed.
        let start = newestChange(vendored).addingTimeInterval(0.001)
        try "edited by the agent\n".write(toFile: vendored + "/README.md", atomically: false, encoding: .utf8)

        let report = try NestedRepositoryGuard(clockSlack: 0).quarantine(
            project: trap.project, sessionID: session, sessionStart: start)

        #expect(report.quarantined.isEmpty)
        #expect(report.leftAlone == ["vendor/lib/.git"])
        #expect(exists(vendored + "/.git/HEAD"))
        #expect(try gitOutput("rev-parse --git-dir", in: vendored) == ".git")

        // The same repository with one hook added during the session is no longer left alone.
        try sh("printf '#!/bin/sh\\n' > .git/hooks/post-checkout", in: vendored)
        let later = try NestedRepositoryGuard(clockSlack: 0).quarantine(
            project: trap.project, sessionID: session, sessionStart: start)
        #expect(later.quarantined.map(\.path) == ["vendor/lib/.git"])
        #expect(later.quarantined.first?.changes.contains("vendor/lib/.git/hooks/post-checkout") == true)
    }

    @Test func aSubmodulePointerRewrittenDuringTheSessionIsQuarantined() async throws {
        let trap = try Trap("nested-submodule")
        defer { trap.directory.remove() }
        try addSubmodule(trap)
        #expect(
            try String(contentsOfFile: trap.project + "/sub/.git", encoding: .utf8) == "gitdir: ../.git/modules/sub\n")

        let untouched = try NestedRepositoryGuard(clockSlack: 0).quarantine(
            project: trap.project, sessionID: session,
            sessionStart: newestChange(trap.project).addingTimeInterval(0.001))
        #expect(untouched.quarantined.isEmpty)
        #expect(untouched.leftAlone == ["sub/.git"])

        // The agent copies the submodule's git directory (protected where it is) and points the pointer at the copy.
        let start = Date()
        try sh(
            """
            cp -R .git/modules/sub .cache-gd && git config -f .cache-gd/config --unset core.worktree \
              && git config -f .cache-gd/config core.fsmonitor "$SCRIPT" && printf 'gitdir: ../.cache-gd\\n' > sub/.git
            """, in: trap.project, environment: ["SCRIPT": trap.script])
        _ = try await trap.hostGit(["status", "--porcelain"])
        #expect(trap.markerExists, "the rewritten pointer is a live trap")

        let report = try NestedRepositoryGuard().quarantine(
            project: trap.project, sessionID: session, sessionStart: start)
        _ = try await trap.hostGit(["status", "--porcelain"])
        #expect(!trap.markerExists)
        _ = try await trap.hostGit(["status"], in: "sub")
        #expect(!trap.markerExists)

        let pointer = try #require(report.quarantined.first { $0.path == "sub/.git" })
        #expect(pointer.kind == .gitFile)
        #expect(pointer.changes.contains("sub/.git"))
        #expect(
            try String(contentsOfFile: trap.project + "/sub/.git.paddock-quarantined-\(session)", encoding: .utf8)
                == "gitdir: ../.cache-gd\n")
        // The copy is a repository in its own right (HEAD, objects, refs): git run inside it would obey it too.
        #expect(report.quarantined.contains { $0.path == ".cache-gd" && $0.kind == .bareRepository })
        // The real submodule git directory is the user's and stays where it was.
        #expect(exists(trap.project + "/.git/modules/sub/HEAD"))
    }

    @Test func aNewGitSymlinkIsRenamedAndItsTargetLeftAsItWas() throws {
        let trap = try Trap("nested-symlink")
        defer { trap.directory.remove() }
        let outside = trap.directory.path + "/outside.git"
        try sh("git init -q --bare \"$OUTSIDE\"", in: trap.directory.path, environment: ["OUTSIDE": outside])
        let listing = "find \"$OUTSIDE\" -printf '%p %y %C@ %T@ %s\\n' | sort"
        let before = try sh(listing, environment: ["OUTSIDE": outside])
        let start = Date()
        try sh("mkdir lib && ln -s \"$OUTSIDE\" lib/.git", in: trap.project, environment: ["OUTSIDE": outside])

        let report = try NestedRepositoryGuard().quarantine(
            project: trap.project, sessionID: session, sessionStart: start)

        let renamed = trap.project + "/lib/.git.paddock-quarantined-\(session)"
        #expect(FileSystem.kind(trap.project + "/lib/.git") == .missing)
        #expect(FileSystem.kind(renamed) == .symbolicLink)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: renamed) == outside)
        #expect(try sh(listing, environment: ["OUTSIDE": outside]) == before)
        #expect(report.quarantined.map(\.path) == ["lib/.git"])
        #expect(report.quarantined.first?.kind == .symbolicLink)
    }

    @Test func aBareRepositoryMadeInTheTreeLosesItsHeadAndAnInteractiveRebaseIsReported() throws {
        let trap = try Trap("nested-bare")
        defer { trap.directory.remove() }
        let start = Date()
        // A bare repository whose config sets a pager, and a rebase stopped at `break` with room for `exec` lines.
        try sh(
            """
            git init -q --bare docs/notes && git config -f docs/notes/config core.pager "$SCRIPT" \
              && git rebase -q -i HEAD~1 >/dev/null 2>&1
            """, in: trap.project, environment: ["SCRIPT": trap.script, "GIT_SEQUENCE_EDITOR": "sed -i 1ibreak"])
        let notes = trap.project + "/docs/notes"
        #expect(try gitOutput("rev-parse --absolute-git-dir", in: notes) == notes)

        let report = try NestedRepositoryGuard().quarantine(
            project: trap.project, sessionID: session, sessionStart: start)

        #expect(report.quarantined.map(\.path) == ["docs/notes"])
        #expect(report.quarantined.first?.renamed.first?.to == "docs/notes/HEAD.paddock-quarantined-\(session)")
        #expect(try gitOutput("rev-parse --absolute-git-dir", in: notes) == trap.project + "/.git")
        #expect(exists(notes + "/config"))
        #expect(report.warnings.contains { $0.contains(".git/rebase-merge") })
    }

    /// The attack: the agent leaves an interactive rebase stopped at `break` with an `exec` line; the host user's
    /// `git rebase --continue` would run it. After the quarantine there is nothing to continue.
    @Test func aRebaseLeftWithAnExecLineCannotRunOnTheHost() async throws {
        let control = try Trap("rebase-control")
        defer { control.directory.remove() }
        let plant = """
            git commit -q --allow-empty -m second \\
              && GIT_SEQUENCE_EDITOR="sed -i -e '1i break' -e \\"1i exec $SCRIPT\\"" git rebase -q -i HEAD~1 >/dev/null 2>&1
            test -d .git/rebase-merge
            """
        _ = try sh(plant, in: control.project, environment: ["SCRIPT": control.script])
        let continued = try await control.hostGit(["rebase", "--continue"])
        #expect(
            control.markerExists, "control: without the quarantine, --continue runs the agent's exec line: \(continued)"
        )

        let trap = try Trap("rebase-exec")
        defer { trap.directory.remove() }
        let start = Date()
        _ = try sh(plant, in: trap.project, environment: ["SCRIPT": trap.script])
        let report = try NestedRepositoryGuard().quarantine(
            project: trap.project, sessionID: session, sessionStart: start)
        #expect(report.warnings.contains { $0.contains(".git/rebase-merge") })
        #expect(!exists(trap.project + "/.git/rebase-merge"))
        #expect(exists(trap.project + "/.git/rebase-merge.paddock-quarantined-\(session)/git-rebase-todo"))
        _ = try await trap.hostGit(["rebase", "--continue"])
        #expect(!trap.markerExists)
    }

    /// A rebase the user had in progress before the session, untouched by it, stays as it was.
    @Test func theUsersOwnRebaseInProgressIsLeftAlone() throws {
        let trap = try Trap("rebase-own")
        defer { trap.directory.remove() }
        _ = try sh(
            "git commit -q --allow-empty -m second && GIT_SEQUENCE_EDITOR='sed -i 1ibreak' git rebase -q -i HEAD~1 >/dev/null 2>&1; test -d .git/rebase-merge",
            in: trap.project)
        Thread.sleep(forTimeInterval: 0.05)
        let report = try NestedRepositoryGuard(clockSlack: 0).quarantine(
            project: trap.project, sessionID: session, sessionStart: Date())
        #expect(exists(trap.project + "/.git/rebase-merge"))
        #expect(!report.warnings.contains { $0.contains("rebase-merge") })
    }

    @Test func aLargeOrdinaryTreeIsScannedQuickly() throws {
        let trap = try Trap("nested-large")
        defer { trap.directory.remove() }
        try sh(
            """
            for i in $(seq 1 200); do mkdir -p node_modules/p$i/lib && cd node_modules/p$i/lib \
              && touch $(seq -f f%g.js 1 100) && cd ../../..; done
            """, in: trap.project)
        let start = Date()
        try sh("mkdir -p node_modules/p150/lib/deep && git init -q node_modules/p150/lib/deep", in: trap.project)

        let clock = ContinuousClock()
        var report = NestedRepositoryReport()
        let elapsed = try clock.measure {
            report = try NestedRepositoryGuard().quarantine(
                project: trap.project, sessionID: session, sessionStart: start)
        }
        print("Scanned about 20,000 files in \(elapsed)")
        #expect(report.quarantined.map(\.path) == ["node_modules/p150/lib/deep/.git"])
        // Generous: the scan takes tens of milliseconds; only a pathological walk would come near this.
        #expect(elapsed < .seconds(5))
    }
}

/// Issue 10: what the scan could not list, what it did not look at, and git directories the session left mid-way.
extension NestedRepositoryGuardTests {
    func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }

    /// The attack: a nested repository inside a folder the scan cannot list (`chmod 111`); git can still open
    /// `locked/sub/.git` by name, so the host's `git status` runs its fsmonitor. The scan lends itself read access
    /// for the look, disarms the repository and gives the folder back its mode.
    @Test func aNestedRepositoryInAFolderTheScanCannotListIsDisarmed() async throws {
        let trap = try Trap("nested-unlistable")
        defer {
            _ = try? sh("chmod -R u+rwx .", in: trap.directory.path)
            trap.directory.remove()
        }
        let start = Date()
        try plantNestedRepository(trap, at: "locked/sub")
        try sh("chmod 111 locked", in: trap.project)
        _ = try await trap.hostGit(["status", "--porcelain"])
        #expect(trap.markerExists, "control: git opens locked/sub/.git by name and runs its fsmonitor")

        let report = try asPlainOwner {
            try NestedRepositoryGuard().quarantine(project: trap.project, sessionID: session, sessionStart: start)
        }
        print(report.lines.joined(separator: "\n"))
        _ = try await trap.hostGit(["status", "--porcelain"])
        #expect(!trap.markerExists, "the host's git ran the fsmonitor of a repository the scan could not list")
        #expect(report.quarantined.map(\.path) == ["locked/sub/.git"])
        #expect(mode(trap.project + "/locked") == 0o111, "the folder keeps the mode the agent gave it")
        #expect(report.failures.isEmpty)
    }

    /// A folder that is not the user's and cannot be listed: nothing inside can be checked, so it is taken away
    /// whole when git could still reach into it; one that nobody here can even enter is left and named.
    @Test(.enabled(if: geteuid() == 0, "needs root to make a folder owned by someone else"))
    func aFolderSomeoneElseOwnsThatCannotBeListedIsQuarantinedWhole() async throws {
        let trap = try Trap("nested-foreign")
        defer { trap.directory.remove() }
        try sh("mkdir sealed && chown 12345 sealed && chmod 700 sealed", in: trap.project)
        let start = Date().addingTimeInterval(0.05)
        try await Task.sleep(for: .milliseconds(100))
        try plantNestedRepository(trap, at: "foreign/sub")
        try sh("chown 12345 foreign && chmod 711 foreign", in: trap.project)
        _ = try await trap.hostGit(["status", "--porcelain"])
        #expect(trap.markerExists, "control: the planted repository is live")

        let report = try asPlainOwner {
            try NestedRepositoryGuard(clockSlack: 0).quarantine(
                project: trap.project, sessionID: session, sessionStart: start)
        }
        print(report.lines.joined(separator: "\n"))
        _ = try await trap.hostGit(["status", "--porcelain"])
        #expect(!trap.markerExists)
        #expect(report.quarantined.map(\.path) == ["foreign"])
        #expect(exists(trap.project + "/foreign.paddock-quarantined-\(session)/sub/x"), "nothing was deleted")
        #expect(exists(trap.project + "/sealed"), "a folder nobody here can enter, unchanged, stays")
        #expect(report.unsure.contains { $0.contains("sealed") })
    }

    /// The attack: a project that was not a repository when the session started; the agent makes one at its top
    /// (a `.git`, or the project folder itself shaped as a repository) and the host's `git status` there obeys it.
    @Test func aRepositoryMadeAtTheTopOfAProjectThatHadNoneIsDisarmed() async throws {
        for shape in ["dot-git", "bare"] {
            let trap = try Trap("top-\(shape)")
            defer { trap.directory.remove() }
            let plain = trap.directory.path + "/plain"
            try FileManager.default.createDirectory(atPath: plain + "/src", withIntermediateDirectories: true)
            try "int main;\n".write(toFile: plain + "/src/main.c", atomically: true, encoding: .utf8)
            let start = Date()
            let make =
                shape == "dot-git"
                ? "git init -q . && git config core.fsmonitor \"$SCRIPT\""
                : "git init -q --bare . && git config core.bare false && git config core.worktree \"$PWD\" "
                    + "&& git config core.fsmonitor \"$SCRIPT\""
            try sh(make, in: plain, environment: ["SCRIPT": trap.script])
            try? FileManager.default.removeItem(atPath: trap.marker)
            _ = try await SubprocessRunner().capture(Command("git", ["status"], workingDirectory: plain))
            #expect(trap.markerExists, "control (\(shape)): the host's git obeys the new repository")

            let report = try NestedRepositoryGuard().quarantine(
                project: plain, sessionID: session, sessionStart: start, topLevelGitPinned: false)
            print(report.lines.joined(separator: "\n"))
            try? FileManager.default.removeItem(atPath: trap.marker)
            _ = try await SubprocessRunner().capture(Command("git", ["status"], workingDirectory: plain))
            #expect(!trap.markerExists, "\(shape): the host's git still obeys the repository the session made")
            #expect(report.quarantined.map(\.path) == [shape == "dot-git" ? ".git" : "."])
            #expect(exists(plain + "/src/main.c"))
        }
    }

    /// The attack: a rebase left stopped in a submodule's git directory (`.git/modules/sub`, read-write in the
    /// sandbox so the submodule works), with an `exec` line for the host's `git -C sub rebase --continue`.
    @Test func aRebaseLeftInASubmoduleCannotRunOnTheHost() async throws {
        let trap = try Trap("rebase-submodule")
        defer { trap.directory.remove() }
        try addSubmodule(trap)
        // Exactly after the submodule was made, with no slack: the submodule itself is the user's.
        let start = newestChange(trap.project).addingTimeInterval(0.001)
        try sh(
            """
            git -c user.name=A -c user.email=a@a commit -q --allow-empty -m more \\
              && GIT_SEQUENCE_EDITOR="sed -i -e '1i break' -e \\"1i exec $SCRIPT\\"" git rebase -q -i HEAD~1 >/dev/null 2>&1
            test -d ../.git/modules/sub/rebase-merge
            """, in: trap.project + "/sub", environment: ["SCRIPT": trap.script])

        let report = try NestedRepositoryGuard(clockSlack: 0).quarantine(
            project: trap.project, sessionID: session, sessionStart: start)
        print(report.lines.joined(separator: "\n"))
        #expect(report.quarantined.isEmpty, "the submodule stays usable")
        #expect(!exists(trap.project + "/.git/modules/sub/rebase-merge"))
        #expect(exists(trap.project + "/.git/modules/sub/rebase-merge.paddock-quarantined-\(session)/git-rebase-todo"))
        _ = try await trap.hostGit(["rebase", "--continue"], in: "sub")
        #expect(!trap.markerExists, "the host's rebase --continue in the submodule ran the agent's exec line")
    }
}
