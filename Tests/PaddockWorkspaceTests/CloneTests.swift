import Foundation
import PaddockCore
import Testing

@testable import PaddockWorkspace

@Suite("Clone mode on real git (host side)")
struct CloneTests {
    struct Fixture {
        let directory: TestDirectory
        let host: String
        let store: CloneStore

        init(_ label: String) throws {
            directory = try TestDirectory(label)
            host = directory.path + "/host"
            try makeRepository(host)
            store = CloneStore(root: directory.path + "/state/clones", git: realGit())
        }
    }

    @Test func cloneBorrowsHostObjectsOnANewBranchAtHEAD() async throws {
        let fixture = try Fixture("create")
        defer { fixture.directory.remove() }
        let session = try await fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "s1"))
        let clone = session.paths.clone
        #expect(try gitOutput("symbolic-ref HEAD", in: clone) == "refs/heads/paddock/s1")
        #expect(try gitOutput("rev-parse HEAD", in: clone) == gitOutput("rev-parse HEAD", in: fixture.host))
        #expect(try gitOutput("status --porcelain", in: clone).isEmpty)
        // No object was copied: only the alternates file lives in the clone's object store.
        let objectFiles = try sh("find .git/objects -type f", in: clone).split(separator: "\n")
        #expect(objectFiles == [".git/objects/info/alternates"])
        let hostObjects = fixture.host + "/.git/objects"
        #expect(session.mounts.contains(.bind(hostObjects, at: hostObjects, readOnly: true)))
        #expect(try gitOutput("rev-parse refs/paddock-base/s1", in: fixture.host) == session.record.base)
        #expect(session.lines.isEmpty && session.hostChanges.isEmpty)
        // The record lives beside the clone, out of the sandbox's reach.
        #expect(!session.paths.record.hasPrefix(clone + "/"))
        #expect(try session.paths.loadRecord() == session.record)
    }

    @Test func uncommittedHostChangesAreReportedAndCarriedOnRequest() async throws {
        let fixture = try Fixture("carry")
        defer { fixture.directory.remove() }
        try sh(
            "echo staged > staged.txt && git add staged.txt && echo changed >> src/main.c && echo new > untracked.txt"
                + " && printf '\\000\\377' > binary.bin && echo ignored > skip.log && echo '*.log' > .git/info/exclude",
            in: fixture.host)

        let plain = try await fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "plain"))
        #expect(plain.hostChanges == HostChanges(staged: 1, unstaged: 1, untracked: 2))
        #expect(plain.lines.count == 1 && plain.lines[0].contains("--carry"))
        #expect(try gitOutput("status --porcelain", in: plain.paths.clone).isEmpty)

        let carried = try await fixture.store.create(
            CloneRequest(hostPath: fixture.host, sessionID: "carried", carry: true))
        let clone = carried.paths.clone
        #expect(carried.carried)
        #expect(try gitOutput("diff --cached --name-only", in: clone) == "staged.txt")
        #expect(try gitOutput("diff --name-only", in: clone) == "src/main.c")
        #expect(
            try String(contentsOfFile: clone + "/src/main.c", encoding: .utf8)
                == String(contentsOfFile: fixture.host + "/src/main.c", encoding: .utf8))
        #expect(
            FileManager.default.contents(atPath: clone + "/binary.bin")
                == FileManager.default.contents(atPath: fixture.host + "/binary.bin"))
        #expect(exists(clone + "/untracked.txt") && !exists(clone + "/skip.log"))
        // The host's own working tree is untouched.
        #expect(try gitOutput("status --porcelain", in: fixture.host).split(separator: "\n").count == 4)
    }

    @Test func commitsLandAsABranchAndTheEmptyCloneGoes() async throws {
        let fixture = try Fixture("land")
        defer { fixture.directory.remove() }
        let session = try await fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "s1"))
        try agentCommit(session.paths.clone, file: "feature.txt", text: "agent work\n", message: "agent feature")
        let tip = try gitOutput("rev-parse HEAD", in: session.paths.clone)

        let report = try await fixture.store.land(sessionID: "s1", name: "host")
        #expect(report.landedBranch == "paddock/s1")
        #expect(report.keptClone == nil)
        #expect(try gitOutput("rev-parse paddock/s1", in: fixture.host) == tip)
        #expect(try gitOutput("show paddock/s1:feature.txt", in: fixture.host) == "agent work")
        let short = String(session.record.base.prefix(12))
        #expect(report.lines.contains { $0.hasSuffix("git -C \(fixture.host) log \(short)..paddock/s1") })
        #expect(report.lines.contains { $0.hasSuffix("git -C \(fixture.host) switch paddock/s1") })
        #expect(!exists(session.paths.clone) && !exists(session.paths.scratch))
        #expect(try sh("git for-each-ref refs/paddock-base", in: fixture.host).isEmpty)
        // The host's own branch and working tree did not move.
        #expect(try gitOutput("rev-parse main", in: fixture.host) == session.record.base)
        try sh("git fsck --strict", in: fixture.host)

        #expect(try await fixture.store.list().map(\.status) == [.landed])
        #expect(try await fixture.store.diff(sessionID: "s1", name: "host").contains("+agent work"))
        #expect(try await fixture.store.clean().map(\.removed) == [true])
        #expect(try await fixture.store.list().isEmpty)
    }

    @Test func uncommittedWorkKeepsTheCloneAndNothingElseLeavesNothing() async throws {
        let fixture = try Fixture("keep")
        defer { fixture.directory.remove() }
        let dirty = try await fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "dirty"))
        try "draft\n".write(toFile: dirty.paths.clone + "/draft.txt", atomically: true, encoding: .utf8)
        try sh("echo edit >> README.md", in: dirty.paths.clone)
        let kept = try await fixture.store.land(sessionID: "dirty", name: "host")
        #expect(kept.landedBranch == nil && kept.keptClone == dirty.paths.clone)
        #expect(kept.state.changes.sorted() == [" M README.md", "?? draft.txt"])
        #expect(kept.lines.contains { $0.contains("paddock diff dirty") })
        #expect(exists(dirty.paths.clone + "/draft.txt"))
        let diff = try await fixture.store.diff(sessionID: "dirty", name: "host")
        #expect(diff.contains("+draft") && diff.contains("+edit"))

        let idle = try await fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "idle"))
        let report = try await fixture.store.land(sessionID: "idle", name: "host")
        #expect(report.landedBranch == nil && report.keptClone == nil)
        #expect(!exists(idle.paths.clone) && !exists(idle.paths.record))
        #expect(try gitOutput("branch --list paddock/*", in: fixture.host).isEmpty)

        // clean keeps the dirty clone until forced.
        #expect(try await fixture.store.list().map(\.status) == [.uncommittedWork])
        #expect(try await fixture.store.clean().map(\.removed) == [false])
        #expect(exists(dirty.paths.clone))
        #expect(try await fixture.store.clean(force: true).map(\.removed) == [true])
        #expect(!exists(dirty.paths.clone))
    }

    @Test func commitsOffTheSessionBranchKeepTheClone() async throws {
        let fixture = try Fixture("offbranch")
        defer { fixture.directory.remove() }
        let session = try await fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "s1"))
        try sh("git switch -q -c side", in: session.paths.clone)
        try agentCommit(session.paths.clone, file: "side.txt", text: "x", message: "side")
        let report = try await fixture.store.land(sessionID: "s1", name: "host")
        #expect(report.state.otherWork == ["refs/heads/side"])
        #expect(report.keptClone != nil)
    }

    @Test func twoConcurrentSessionsGetTheirOwnCloneAndBranch() async throws {
        let fixture = try Fixture("concurrent")
        defer { fixture.directory.remove() }
        async let first = fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "a"))
        async let second = fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "b"))
        let (a, b) = try await (first, second)
        #expect(a.paths.clone != b.paths.clone)
        try agentCommit(a.paths.clone, file: "README.md", text: "from a\n", message: "a")
        try agentCommit(b.paths.clone, file: "README.md", text: "from b\n", message: "b")
        async let landA = fixture.store.land(sessionID: "a", name: "host")
        async let landB = fixture.store.land(sessionID: "b", name: "host")
        let reports = try await [landA, landB]
        #expect(reports.map(\.landedBranch) == ["paddock/a", "paddock/b"])
        #expect(try gitOutput("show paddock/a:README.md", in: fixture.host) == "from a")
        #expect(try gitOutput("show paddock/b:README.md", in: fixture.host) == "from b")
        #expect(
            try gitOutput("rev-parse paddock/a^", in: fixture.host)
                == gitOutput("rev-parse paddock/b^", in: fixture.host))
    }

    /// The agent arms every trap it can in its clone; landing, listing and diff must not spring one. A control run
    /// of ordinary git at the end shows the traps were live.
    @Test func landingNeverRunsWhatTheAgentPlanted() async throws {
        let fixture = try Fixture("attack")
        defer { fixture.directory.remove() }
        let session = try await fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "evil"))
        let clone = session.paths.clone
        let marker = fixture.directory.path + "/PWNED"
        try agentCommit(clone, file: "work.txt", text: "real work\n", message: "work")
        let trap = "#!/bin/sh\necho \"$0\" >> \(marker)\nexit 0\n"
        try trap.write(toFile: fixture.directory.path + "/trap.sh", atomically: true, encoding: .utf8)
        try sh(
            """
            echo dirty >> work.txt
            mkdir sub && cd sub && git init -q && git -c user.name=a -c user.email=a@b commit -q --allow-empty -m s
            cd .. && git update-index --add --cacheinfo 160000,$(git -C sub rev-parse HEAD),sub
            git -C sub config core.fsmonitor "$TRAP"
            chmod +x "$TRAP"
            mkdir -p .git/hooks
            for hook in pre-commit post-checkout reference-transaction pre-auto-gc post-index-change fsmonitor-watchman; do
              cp "$TRAP" .git/hooks/$hook; chmod +x .git/hooks/$hook
            done
            git config core.fsmonitor "$TRAP"
            git config core.hooksPath .git/hooks
            git config filter.evil.clean "$TRAP"
            git config diff.evil.textconv "$TRAP"
            git config core.pager "$TRAP"
            echo '* filter=evil diff=evil' > .gitattributes
            """, in: clone, environment: ["TRAP": fixture.directory.path + "/trap.sh"])
        // Now the clone has uncommitted work, so it is kept; the branch still lands.
        let report = try await fixture.store.land(sessionID: "evil", name: "host")
        #expect(report.landedBranch == "paddock/evil")
        #expect(report.keptClone == clone)
        _ = try await fixture.store.list()
        _ = try await fixture.store.diff(sessionID: "evil", name: "host")
        #expect(
            !exists(marker),
            "host-side git ran a planted command: \((try? String(contentsOfFile: marker, encoding: .utf8)) ?? "")")

        _ = try? sh("git status --porcelain >/dev/null; git diff >/dev/null", in: clone)
        #expect(exists(marker), "control: the planted traps should fire under ordinary git")
    }

    @Test func tamperedAlternatesOrLinksMeanHandsOff() async throws {
        let fixture = try Fixture("tamper")
        defer { fixture.directory.remove() }
        let outside = fixture.directory.path + "/outside"
        try sh("mkdir -p \(outside) && echo keep > \(outside)/precious", in: fixture.directory.path)
        let session = try await fixture.store.create(CloneRequest(hostPath: fixture.host, sessionID: "t"))
        try agentCommit(session.paths.clone, file: "x.txt", text: "x", message: "x")
        try sh("echo \(outside) >> .git/objects/info/alternates && ln -s \(outside) escape", in: session.paths.clone)
        let report = try await fixture.store.land(sessionID: "t", name: "host")
        #expect(report.landedBranch == nil && report.keptClone == session.paths.clone)
        #expect(report.state.problems.count == 1)
        #expect(try await fixture.store.list().map(\.status) == [.needsAttention])
        // Forced removal deletes the link, never what it points to.
        _ = try await fixture.store.clean(force: true)
        #expect(!exists(session.paths.clone))
        #expect(try String(contentsOfFile: outside + "/precious", encoding: .utf8) == "keep\n")
    }
}
