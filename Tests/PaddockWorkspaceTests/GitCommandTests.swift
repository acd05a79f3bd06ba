import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

@testable import PaddockWorkspace

@Suite("git argv and names")
struct GitCommandTests {
    @Test func hardenedCommandSwitchesOffEverythingGitCouldRun() {
        let git = Git(runner: RecordingRunner())
        let command = git.hardened(["status"], gitDirectory: "/s/scratch", workTree: "/s/clone")
        #expect(command.executable == "git")
        #expect(Array(command.arguments.prefix(2)) == ["--git-dir=/s/scratch", "--work-tree=/s/clone"])
        #expect(command.arguments.last == "status")
        let options = Array(command.arguments.dropFirst(2).dropLast())
        for setting in [
            "core.fsmonitor=false", "core.hooksPath=/dev/null", "core.sshCommand=false", "protocol.allow=never",
            "protocol.file.allow=always", "diff.ignoreSubmodules=all", "submodule.recurse=false", "credential.helper=",
            "core.commitGraph=false", "core.multiPackIndex=false",
        ] {
            let position = options.firstIndex(of: setting)
            #expect(position != nil, "missing -c \(setting)")
            if let position { #expect(position > 0 && options[position - 1] == "-c") }
        }
        #expect(command.environment["GIT_CONFIG_NOSYSTEM"] == .some("1"))
        #expect(command.environment["GIT_CONFIG_GLOBAL"] == .some("/dev/null"))
        #expect(command.environment["GIT_DIR"] == .some(nil))
        #expect(command.environment["GIT_CONFIG_PARAMETERS"] == .some(nil))
        #expect(command.workingDirectory == "/s/clone")
    }

    @Test func plainCommandKeepsUserConfigButDropsRedirections() {
        let command = Git(runner: RecordingRunner()).plain(["status"], in: "/p")
        #expect(command.argv == ["git", "-C", "/p", "-c", "gc.auto=0", "-c", "maintenance.auto=false", "status"])
        #expect(command.environment["GIT_CONFIG_GLOBAL"] == nil)
        #expect(command.environment["GIT_DIR"] == .some(nil))
        #expect(command.environment["GIT_ALTERNATE_OBJECT_DIRECTORIES"] == .some(nil))
    }

    @Test(arguments: ["-x", ".hidden", "a..b", "x.lock", "a/b", "", "a b", "ref~1", "x:y", "--upload-pack=evil"])
    func rejectsNamesGitOrPathsWouldMisread(_ name: String) {
        #expect(throws: PaddockError.self) { try WorkspaceName.validate(name, what: "Session id") }
    }

    @Test func acceptsSessionIDsAndDerivesRepositoryNames() throws {
        try WorkspaceName.validate("20261121-0521-k3f9", what: "Session id")
        try WorkspaceName.validate("api.v2_x", what: "Repository name")
        #expect(WorkspaceName.derived(fromDirectory: "/home/u/my app") == "my-app")
        #expect(WorkspaceName.derived(fromDirectory: "/home/u/-rf") == "rf")
        #expect(WorkspaceName.derived(fromDirectory: "/home/u/.x..y.lock") == "x.y")
        #expect(WorkspaceName.derived(fromDirectory: "/") == "repo")
    }

    @Test func countsStagedModifiedAndUntrackedChanges() {
        let porcelain = "M  staged.txt\0 M modified.txt\0MM both.txt\0?? new.txt\0?? other.txt\0D  gone.txt\0"
        #expect(HostChanges.parse(porcelain: porcelain) == HostChanges(staged: 3, unstaged: 2, untracked: 2))
        #expect(HostChanges.parse(porcelain: "").isEmpty)
    }

    /// The exact git conversation of a clone's creation: host facts, an empty repository with alternates,
    /// the branch at the host's HEAD, a checkout, and the pin that keeps the start alive in the host.
    @Test func createRunsExactlyTheseGitCommands() async throws {
        let directory = try TestDirectory("argv")
        defer { directory.remove() }
        let host = directory.path + "/host"
        try FileManager.default.createDirectory(atPath: host + "/.git/objects", withIntermediateDirectories: true)
        let base = String(repeating: "a", count: 40)
        let runner = RecordingRunner { command in
            if command.arguments.contains("--show-toplevel") {
                return ProcessOutput(status: 0, stdout: "\(host)\n\(host)/.git\nsha1\n", stderr: "")
            }
            if command.arguments.contains("HEAD^{commit}") {
                return ProcessOutput(status: 0, stdout: base + "\n", stderr: "")
            }
            return ProcessOutput(status: 0, stdout: "", stderr: "")
        }
        let store = CloneStore(root: directory.path + "/clones", git: Git(runner: runner))
        let session = try await store.create(CloneRequest(hostPath: host, sessionID: "s1"))
        let clone = directory.path + "/clones/s1/host"
        let hardening = Git.hardeningOptions
        let expected: [[String]] = [
            [
                "git", "-C", host, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "rev-parse",
                "--path-format=absolute",
                "--show-toplevel", "--git-common-dir", "--show-object-format",
            ],
            [
                "git", "-C", host, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "rev-parse", "--verify",
                "--quiet",
                "HEAD^{commit}",
            ],
            [
                "git", "-C", host, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "--no-optional-locks", "status",
                "--porcelain=v1", "-z", "--no-renames",
            ],
            ["git", "-C", clone] + hardening + [
                "init", "--quiet", "--template=", "--object-format=sha1",
                "--initial-branch=paddock/s1",
            ],
            ["git", "-C", clone] + hardening + ["update-ref", "refs/heads/paddock/s1", base],
            ["git", "-C", clone] + hardening + ["read-tree", "--reset", "-u", "HEAD"],
            [
                "git", "-C", host, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "update-ref",
                "refs/paddock-base/s1", base,
            ],
        ]
        #expect(runner.commands.map(\.argv) == expected)
        #expect(
            try String(contentsOfFile: clone + "/.git/objects/info/alternates", encoding: .utf8)
                == host + "/.git/objects\n")
        #expect(
            session.mounts == [
                .bind(clone, at: "/workspace", readOnly: false),
                .bind(host + "/.git/objects", at: host + "/.git/objects", readOnly: true),
            ])
        #expect(session.record.base == base && session.record.branch == "paddock/s1")
    }

    @Test func createRejectsAnOptionLikeSessionIDBeforeRunningGit() async throws {
        let runner = RecordingRunner()
        let store = CloneStore(root: "/nonexistent", git: Git(runner: runner))
        await #expect(throws: PaddockError.self) {
            try await store.create(CloneRequest(hostPath: "/tmp", sessionID: "--upload-pack=touch"))
        }
        #expect(runner.commands.isEmpty)
    }
}
