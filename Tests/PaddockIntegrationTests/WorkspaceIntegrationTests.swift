import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Clone mode and mount mode through the `paddock` binary, on the real engine.
@Suite("Workspaces on the real engine", .serialized, .tags(.engine))
struct WorkspaceIntegrationTests {
    static let commit = "git -c user.email=agent@paddock -c user.name=agent commit -q"

    func branches(_ fixture: IntegrationFixture) async throws -> [String] {
        try await fixture.userShell("git for-each-ref --format='%(refname:short)' refs/heads/")
            .stdout.split(separator: "\n").map(String.init)
    }

    /// A script in the project that leaves `marker` when the host runs it; returns the marker's path.
    func trapScript(_ fixture: IntegrationFixture, marker name: String) async throws -> String {
        let marker = fixture.root + "/" + name
        try await fixture.write("#!/bin/sh\ntouch \(marker)\n", to: fixture.project + "/evil.sh")
        try await fixture.userShell("chmod +x evil.sh")
        return marker
    }

    func sessionID(in text: String) -> String? {
        text.range(of: #"paddock/\d{8}-(\d{6}-\d{2}[0-9a-z]{2}|\d{4}-[0-9a-z]{4})"#, options: .regularExpression)
            .map { String(text[$0].dropFirst("paddock/".count)) }
    }

    /// On every engine: with bwrap the agent commits with the host's own git.
    @Test(arguments: TestEngine.allCases) func cloneModeCommitsComeBackAsABranch(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            try await fixture.write("hello\n", to: fixture.project + "/README")
            try await fixture.userShell("git add README && \(Self.commit) -m base")
            let script =
                "echo agent > work.txt && git add work.txt && \(Self.commit) -m 'agent work' && git log --oneline | wc -l"
            let result = try await fixture.paddock([
                "run", "--isolate", "clone", "--agent", "shell", "--", "sh", "-c", script,
            ])
            #expect(result.status == 0, "\(result.stderr)")
            let id = try #require(sessionID(in: result.stderr), "\(result.stderr)")
            #expect(
                result.stderr.contains("git switch paddock/\(id)") || result.stderr.contains("switch paddock/\(id)"))
            #expect(try await branches(fixture).contains("paddock/\(id)"))
            let shown = try await fixture.userShell("git show paddock/\(id):work.txt")
            #expect(shown.stdout == "agent\n")
            #expect(
                !FileManager.default.fileExists(atPath: fixture.project + "/work.txt"),
                "the host's working tree is untouched")
            // A session whose work has landed leaves no clone behind.
            let kept = try await fixture.paddock(["ps", "--all"])
            #expect(!kept.stdout.contains("clone: uncommitted"), "\(kept.stdout)")
        }
    }

    @Test func uncommittedWorkKeepsTheCloneUntilItIsSafe() async throws {
        try await withOrphanLock {
            try await IntegrationFixture.with { fixture in
                let result = try await fixture.paddock([
                    "run", "--isolate", "clone", "--agent", "shell", "--", "sh", "-c", "echo draft > notes.txt",
                ])
                #expect(result.status == 0, "\(result.stderr)")
                let listing = try await fixture.paddock(["ps", "--all", "--json"])
                let rows =
                    try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [[String: String]] ?? []
                let row = try #require(rows.first { $0["state"] == "clone: uncommitted work" }, "\(listing.stdout)")
                let id = try #require(row["session"])
                let diff = try await fixture.paddock(["diff", id])
                #expect(diff.stdout.contains("+draft"), "\(diff.stdout)\(diff.stderr)")

                let clean = try await fixture.paddock(["clean"])
                #expect(clean.stdout.contains("kept"), "\(clean.stdout)")
                #expect(FileManager.default.fileExists(atPath: try #require(row["container"]) + "/notes.txt"))
                let forced = try await fixture.paddock(["clean", "--force"])
                #expect(forced.stdout.contains("removed"), "\(forced.stdout)")
                #expect(!FileManager.default.fileExists(atPath: try #require(row["container"])))
            }
        }
    }

    @Test func carryBringsUncommittedChangesAlong() async throws {
        try await withOrphanLock {
            try await IntegrationFixture.with { fixture in
                try await fixture.write("local edit\n", to: fixture.project + "/draft.txt")
                let without = try await fixture.paddock([
                    "run", "--isolate", "clone", "--agent", "shell", "--", "sh", "-c",
                    "test -e draft.txt && echo present || echo absent",
                ])
                #expect(without.stdout == "absent\n")
                #expect(without.stderr.contains("--carry"))
                let with = try await fixture.paddock([
                    "run", "--isolate", "clone", "--carry", "--agent", "shell", "--", "cat", "draft.txt",
                ])
                #expect(with.stdout == "local edit\n", "\(with.stderr)")
                _ = try await fixture.paddock(["clean", "--force"])
            }
        }
    }

    @Test func concurrentCloneSessionsGetTheirOwnBranches() async throws {
        try await IntegrationFixture.with { fixture in
            let script = "echo $$ > mine.txt && git add mine.txt && \(Self.commit) -m mine"
            async let first = fixture.paddock([
                "run", "--isolate", "clone", "--agent", "shell", "--", "sh", "-c", script,
            ])
            async let second = fixture.paddock([
                "run", "--isolate", "clone", "--agent", "shell", "--", "sh", "-c", script,
            ])
            let results = try await [first, second]
            #expect(results.allSatisfy { $0.status == 0 }, "\(results.map(\.stderr))")
            let ids = results.compactMap { sessionID(in: $0.stderr) }
            #expect(Set(ids).count == 2)
            let heads = try await branches(fixture).filter { $0.hasPrefix("paddock/") }
            #expect(heads.count == 2)
        }
    }

    /// The attacks on the host's git in mount mode, tried from inside a real session.
    /// On every engine: bwrap runs the host's own git, with paddock's read-only binds laid over .git.
    @Test(arguments: TestEngine.allCases) func mountModeAgentCannotMakeTheHostsGitRunAnything(engine: TestEngine)
        async throws
    {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let marker = fixture.root + "/pwned"
            let attacks = """
                printf '#!/bin/sh\\ntouch \(marker)\\n' > /tmp/evil; chmod +x /tmp/evil
                (printf '#!/bin/sh\\ntouch \(marker)\\n' > .git/hooks/post-checkout && chmod +x .git/hooks/post-checkout) 2>/dev/null && echo HOOK
                git config core.fsmonitor /workspace/evil.sh 2>/dev/null && echo FSMONITOR
                git config core.sshCommand /workspace/evil.sh 2>/dev/null && echo SSHCOMMAND
                git config core.hooksPath /workspace/hooks 2>/dev/null && echo HOOKSPATH
                printf '[includeIf "gitdir:/"]\\n path = /workspace/inc\\n' >> .git/config 2>/dev/null && echo INCLUDEIF
                echo /workspace/elsewhere > .git/commondir 2>/dev/null && echo COMMONDIR
                (mv .git .git-old && mkdir .git) 2>/dev/null && echo SWAPPED
                # Issue 10: places git reads that did not exist at the start, and folders holding a read-only mount.
                sub=$(git rev-parse HEAD); git init -q /tmp/m && git -C /tmp/m -c user.email=a@a -c user.name=a commit -q --allow-empty -m m
                (mkdir -p .git/modules && cp -R /tmp/m/.git .git/modules/evil && git config -f .git/modules/evil/config core.worktree ../../../evil \
                  && git config -f .git/modules/evil/config core.fsmonitor \(fixture.project)/evil.sh \
                  && printf '#!/bin/sh\ntouch \(marker)\n' > .git/modules/evil/hooks/post-checkout && chmod +x .git/modules/evil/hooks/post-checkout) 2>/dev/null && echo MODULES
                printf '[submodule "evil"]\n\tpath = evil\n\turl = ./nowhere\n' > .gitmodules && git update-index --add --cacheinfo "160000,$(git -C /tmp/m rev-parse HEAD),evil"
                printf '[core]\n\tfsmonitor = \(fixture.project)/evil.sh\n' > .git/config.worktree 2>/dev/null && echo WORKTREECONFIG
                (mkdir -p .git/worktrees/x && printf '[core]\n\tfsmonitor = \(fixture.project)/evil.sh\n' > .git/worktrees/x/config.worktree) 2>/dev/null && echo WORKTREES
                mv .git/objects .git/objects-old 2>/dev/null && echo OBJECTS && mv .git/objects-old .git/objects
                (mv tools tools-old && mkdir -p tools/hooks && printf '#!/bin/sh\ntouch \(marker)\n' > tools/hooks/post-checkout \
                  && chmod +x tools/hooks/post-checkout) 2>/dev/null && echo ANCESTOR
                echo x > tracked.txt && git add tracked.txt && \(Self.commit) -m agent && echo COMMITTED
                """
            try await fixture.write("#!/bin/sh\ntouch \(marker)\n", to: fixture.project + "/evil.sh")
            // The user's own settings that make the attacks above worth trying.
            try await fixture.userShell(
                "chmod +x evil.sh && mkdir -p tools/hooks && git config core.hooksPath tools/hooks "
                    + "&& git config extensions.worktreeConfig true")
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "sh", "-c", attacks])
            #expect(result.status == 0, "\(result.stderr)")
            for attack in [
                "HOOK", "FSMONITOR", "SSHCOMMAND", "HOOKSPATH", "INCLUDEIF", "COMMONDIR", "SWAPPED", "MODULES",
                "WORKTREECONFIG", "WORKTREES", "OBJECTS", "ANCESTOR",
            ] {
                #expect(!result.stdout.contains(attack + "\n"), "\(attack) succeeded: \(result.stdout)")
            }
            #expect(
                result.stdout.contains("COMMITTED"), "ordinary git work still works: \(result.stdout)\(result.stderr)")
            // The host's own git, as the user would run it next; the submodule update fails (its URL leads nowhere).
            try await fixture.userShell(
                "git status >/dev/null; git checkout -q -b after; git log -1 >/dev/null; "
                    + "git -c protocol.file.allow=always submodule update --init >/dev/null 2>&1; true")
            #expect(!FileManager.default.fileExists(atPath: marker), "the host's git ran something the agent planted")
        }
    }
}

extension WorkspaceIntegrationTests {
    /// A nested repository planted in mount mode would make the host's `git status` run the agent's fsmonitor;
    /// paddock renames it when the session ends, so the host's git no longer sees it, and keeps every byte.
    @Test func aPlantedNestedRepositoryIsQuarantinedAtSessionEnd() async throws {
        try await IntegrationFixture.with { fixture in
            let marker = try await trapScript(fixture, marker: "pwned-nested")
            let plant = """
                git init -q sub && git -C sub -c user.email=a@a -c user.name=a commit -q --allow-empty -m x
                git -C sub config core.fsmonitor \(fixture.project)/evil.sh
                git add sub && echo PLANTED
                """
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "sh", "-c", plant])
            #expect(result.stdout.contains("PLANTED"), "\(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("quarantined"), "\(result.stderr)")
            try await fixture.userShell("git status >/dev/null 2>&1; git -C sub status >/dev/null 2>&1; true")
            #expect(!FileManager.default.fileExists(atPath: marker), "the host's git ran the planted fsmonitor")
            let kept = try FileManager.default.contentsOfDirectory(atPath: fixture.project + "/sub")
            #expect(kept.contains { $0.hasPrefix(".git.paddock-quarantined-") }, "\(kept)")
        }
    }
}

extension WorkspaceIntegrationTests {
    /// Issue 10: a launcher killed outright never runs its guard. `paddock clean` removes the sandbox and then runs
    /// it, from the session record, against the session's own start: the planted repository is disarmed before
    /// the user's next `git status` (which the test runs only after `clean`).
    @Test(arguments: TestEngine.allCases) func cleanAfterAKilledLauncherDisarmsWhatTheSessionPlanted(engine: TestEngine)
        async throws
    {
        try await withOrphanLock {
            try await IntegrationFixture.with(engine: engine) { fixture in
                let marker = try await trapScript(fixture, marker: "pwned-killed")
                let plant = """
                    git init -q sub && git -C sub -c user.email=a@a -c user.name=a commit -q --allow-empty -m x
                    git -C sub config core.fsmonitor \(fixture.project)/evil.sh && git add sub && touch PLANTED && sleep 300
                    """
                let process = try fixture.start(["run", "--agent", "shell", "--", "sh", "-c", plant])
                let planted = try await fixture.waitUntil {
                    FileManager.default.fileExists(atPath: fixture.project + "/PLANTED")
                }
                #expect(planted)
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()

                let cleaned = try await fixture.paddock(["clean"])
                #expect(cleaned.status == 0, "\(cleaned.stderr)")
                #expect(try await fixture.containers().isEmpty)
                #expect(cleaned.stderr.contains("Quarantined sub/.git"), "\(cleaned.stdout)\(cleaned.stderr)")
                try await fixture.userShell("git status >/dev/null 2>&1; git -C sub status >/dev/null 2>&1; true")
                #expect(!FileManager.default.fileExists(atPath: marker), "the host's git ran the planted fsmonitor")
                let kept = try FileManager.default.contentsOfDirectory(atPath: fixture.project + "/sub")
                #expect(kept.contains { $0.hasPrefix(".git.paddock-quarantined-") }, "\(kept)")
                // Once checked, a session is not checked again.
                let again = try await fixture.paddock(["clean"])
                #expect(!again.stderr.contains("Quarantined"), "\(again.stderr)")
            }
        }
    }

    /// The same when the user removes the killed session's sandbox by hand and starts another session: the new
    /// launcher runs the guard the killed one could not, before its own sandbox starts.
    @Test func theNextSessionFinishesTheGuardOfAKilledOne() async throws {
        try await withOrphanLock {
            try await IntegrationFixture.with { fixture in
                let marker = try await trapScript(fixture, marker: "pwned-next")
                let plant = """
                    git init -q sub && git -C sub -c user.email=a@a -c user.name=a commit -q --allow-empty -m x
                    git -C sub config core.fsmonitor \(fixture.project)/evil.sh && git add sub && touch PLANTED && sleep 300
                    """
                let process = try fixture.start(["run", "--agent", "shell", "--", "sh", "-c", plant])
                #expect(
                    try await fixture.waitUntil { FileManager.default.fileExists(atPath: fixture.project + "/PLANTED") }
                )
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                try await fixture.shell(
                    "docker rm --force \(try await fixture.containers().joined(separator: " "))", in: fixture.root)
                // Older than the new session's clock slack, so only the killed session's own start catches it.
                try await Task.sleep(for: .seconds(3))

                let next = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
                #expect(next.status == 0, "\(next.stderr)")
                #expect(next.stderr.contains("Quarantined sub/.git"), "\(next.stderr)")
                try await fixture.userShell("git status >/dev/null 2>&1; true")
                #expect(!FileManager.default.fileExists(atPath: marker), "the host's git ran the planted fsmonitor")
            }
        }
    }

    /// Issue 10: the agent hides its repository in a folder it makes unlistable; the guard, run as the
    /// unprivileged host user, lends itself access for the look, disarms the repository and restores the mode.
    @Test func aRepositoryInAFolderTheGuardCannotListIsDisarmed() async throws {
        try await IntegrationFixture.with { fixture in
            let marker = try await trapScript(fixture, marker: "pwned-unlistable")
            let plant = """
                mkdir locked && git init -q locked/sub && git -C locked/sub -c user.email=a@a -c user.name=a commit -q --allow-empty -m x
                git -C locked/sub config core.fsmonitor \(fixture.project)/evil.sh && git add locked/sub && chmod 111 locked && echo PLANTED
                """
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "sh", "-c", plant])
            #expect(result.stdout.contains("PLANTED"), "\(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("Quarantined locked/sub/.git"), "\(result.stderr)")
            try await fixture.userShell("git status >/dev/null 2>&1; true")
            #expect(
                !FileManager.default.fileExists(atPath: marker), "the host's git ran the hidden repository's fsmonitor")
            let mode = try await fixture.userShell("stat -c %a locked")
            #expect(mode.stdout == "111\n")
        }
    }
}

extension WorkspaceIntegrationTests {
    /// `--repo` puts several repositories side by side under /workspace, each in the chosen mode.
    @Test func severalRepositoriesAppearUnderWorkspaceByName() async throws {
        try await IntegrationFixture.with { fixture in
            for name in ["api", "web"] {
                try await fixture.userShell(
                    "mkdir -p \(fixture.root)/\(name) && cd \(fixture.root)/\(name) && git init -q -b main . "
                        + "&& echo \(name) > NAME && git add NAME && \(Self.commit) -m \(name)")
            }
            let script =
                "cat /workspace/api/NAME /workspace/web/NAME && cd /workspace/web && echo change >> NAME && \(Self.commit) -am agent && echo done"
            let cloned = try await fixture.paddock(
                [
                    "run", "--isolate", "clone", "--repo", "../api", "--repo", "../web", "--agent", "shell", "--", "sh",
                    "-c", script,
                ])
            #expect(cloned.stdout == "api\nweb\ndone\n", "\(cloned.stdout)\(cloned.stderr)")
            let id = try #require(sessionID(in: cloned.stderr), "\(cloned.stderr)")
            let web = try await fixture.userShell("git -C \(fixture.root)/web log --format=%s paddock/\(id)")
            #expect(web.stdout.hasPrefix("agent\n"))
            let api = try await fixture.userShell("git -C \(fixture.root)/api branch --list 'paddock/*'")
            #expect(api.stdout.isEmpty, "a repository the session did not commit to gets no branch")

            let mounted = try await fixture.paddock(
                [
                    "run", "--repo", "../api", "--repo", "../web", "--agent", "shell", "--", "sh", "-c",
                    "echo live > /workspace/api/LIVE",
                ])
            #expect(mounted.status == 0, "\(mounted.stderr)")
            #expect(
                FileManager.default.fileExists(atPath: fixture.root + "/api/LIVE"),
                "mount mode edits the repository itself")
        }
    }
}
