import Foundation
import PaddockCore
import Testing

@testable import PaddockWorkspace

extension Tag {
    @Tag static var engine: Self
}

/// Whether the real engine is here. With CI=true a missing engine fails the tests instead of skipping them.
enum EngineGate {
    static let available = (try? execute(["docker", "info"]).status) == 0
    static let ci = ProcessInfo.processInfo.environment["CI"] == "true"
    static let runs = available || ci
    static let skipMessage: Comment =
        "Docker is not reachable (`docker info` failed): engine tests skipped. With CI=true they fail instead."
    static let image = "paddock-test/git:latest"
}

/// Builds the test image (the local debootstrap base plus git) once per test run, when missing.
actor TestImage {
    static let shared = TestImage()
    private var ready = false

    func ensure() throws {
        try #require(EngineGate.available, "CI=true but Docker is not reachable: `docker info` failed.")
        if ready { return }
        if try execute(["docker", "image", "inspect", EngineGate.image]).status != 0 {
            let dockerfile = """
                FROM paddock-test/bookworm:latest
                RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git \
                    && rm -rf /var/lib/apt/lists/*
                """
            let directory = try TestDirectory("image")
            defer { directory.remove() }
            try dockerfile.write(toFile: directory.path + "/Dockerfile", atomically: true, encoding: .utf8)
            let build = try execute(["docker", "build", "-q", "-t", EngineGate.image, directory.path])
            try #require(build.status == 0, "building \(EngineGate.image) failed:\n\(build.output)")
        }
        ready = true
    }
}

/// A hardened, offline sandbox as paddock starts one, running `script` as an unprivileged uid with `mounts`.
func runSandbox(name: String, mounts: [Mount], environment: [String: String] = [:], script: String) throws -> String {
    var argv = [
        "docker", "run", "--rm", "--name", name, "--network", "none", "--cap-drop", "ALL", "--security-opt",
        "no-new-privileges", "--user", "1000:1000", "-e", "HOME=/tmp", "--workdir", "/workspace",
    ]
    for (key, value) in environment.sorted(by: { $0.key < $1.key }) { argv += ["-e", "\(key)=\(value)"] }
    for mount in mounts {
        argv += [
            "--mount", "type=bind,source=\(mount.source),target=\(mount.target)" + (mount.readOnly ? ",readonly" : ""),
        ]
    }
    argv += [EngineGate.image, "sh", "-c", script]
    return try execute(argv).output
}

/// SHA-256 of every file under `directory`, by relative path.
func fingerprint(_ directory: String) throws -> [String: String] {
    let listing = try sh("find . -type f -print0 | xargs -0 -r sha256sum", in: directory)
    var result: [String: String] = [:]
    for line in listing.split(separator: "\n") {
        let parts = line.split(separator: " ", maxSplits: 1)
        if parts.count == 2 {
            result[String(parts[1].drop(while: { $0 == " " || $0 == "*" }).dropFirst(2))] = String(parts[0])
        }
    }
    return result
}

/// Shell lines shared by the hostile scripts: `attempt NAME CMD…` reports a success the sandbox must not have.
let attemptFunction = """
    attempt() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "ATTACK-SUCCEEDED $name"; else echo "blocked $name"; fi; }
    """

@Suite("Workspace on the real engine", .tags(.engine), .enabled(if: EngineGate.runs, EngineGate.skipMessage))
struct EngineTests {
    /// The decisive clone-mode test: two hostile sessions on one project. Afterwards the host repository holds
    /// every file it had, byte for byte, plus only the landed branches and their objects, and fsck passes.
    @Test func hostileCloneSessionsCannotTouchTheHostRepository() async throws {
        try await TestImage.shared.ensure()
        let directory = try TestDirectory("engine-clone")
        defer { directory.remove() }
        let host = directory.path + "/host"
        try makeRepository(host)
        // Both packed and loose objects, so both kinds are checked.
        try sh("git gc -q && echo third >> README.md && git commit -qam third", in: host)
        let before = try fingerprint(host + "/.git")
        let store = CloneStore(root: directory.path + "/state/clones", git: realGit())
        let owner = FileOwner(uid: 1000, gid: 1000)
        let ravager = try await store.create(CloneRequest(hostPath: host, sessionID: "\(directory.id)-a", owner: owner))
        let wiper = try await store.create(CloneRequest(hostPath: host, sessionID: "\(directory.id)-b", owner: owner))
        let marker = directory.path + "/PWNED"
        let objects = ravager.record.hostObjects

        let hostWrites = """
            \(attemptFunction)
            attempt touch touch "$OBJ/evil"
            attempt mkdir mkdir "$OBJ/zz"
            attempt rm-pack rm -r "$OBJ/pack"
            attempt rm-loose sh -c 'rm "$OBJ"/??/*'
            attempt rename mv "$OBJ/pack" "$OBJ/pack2"
            attempt chmod chmod 777 "$OBJ"
            attempt append sh -c 'for f in "$OBJ"/pack/*.pack; do printf x >> "$f" || exit 1; done'
            attempt alternates sh -c 'echo / > "$OBJ/info/alternates"'
            """
        let ravage = """
            cd /workspace && git config user.name agent && git config user.email agent@example.invalid
            echo "HISTORY $(git rev-list --count HEAD)"
            echo one > one.txt && git add one.txt && git commit -qm one
            echo two > two.txt && git add two.txt && git commit -qm two
            git reset -q --hard HEAD~2 && echo rewritten > history.txt && git add history.txt && git commit -qm rewritten
            git commit -q --amend -m rewritten-again
            git gc -q --prune=now --aggressive && echo GC-DONE
            \(hostWrites)
            echo "TIP $(git rev-parse HEAD)"
            printf '#!/bin/sh\\necho "$0" >> %s\\n' "$MARKER" > trap.sh && chmod +x trap.sh
            mkdir -p .git/hooks && for hook in pre-commit post-checkout reference-transaction post-index-change; do cp trap.sh .git/hooks/$hook; done
            git config core.fsmonitor "$CLONE/trap.sh"
            git config filter.evil.clean "$CLONE/trap.sh" && echo '* filter=evil' > .gitattributes
            echo draft > draft.txt
            """
        let first = try runSandbox(
            name: "\(directory.id)-a", mounts: ravager.mounts,
            environment: ["OBJ": objects, "MARKER": marker, "CLONE": ravager.paths.clone], script: ravage)
        let wipe = """
            cd /workspace
            \(hostWrites)
            rm -rf .git/* .git/.[!.]* ; echo "LEFT $(ls -A .git | wc -l)"
            git init -q -b "paddock/$SESSION" . && git add -A
            git -c user.name=forger -c user.email=f@example.invalid commit -qm forged && echo "TIP $(git rev-parse HEAD)"
            """
        let second = try runSandbox(
            name: "\(directory.id)-b", mounts: wiper.mounts,
            environment: ["OBJ": objects, "SESSION": wiper.record.sessionID], script: wipe)

        for output in [first, second] {
            #expect(!output.contains("ATTACK-SUCCEEDED"), "the sandbox wrote to the host's objects:\n\(output)")
            #expect(output.components(separatedBy: "blocked ").count - 1 == 8, "\(output)")
        }
        #expect(first.contains("HISTORY 3") && first.contains("GC-DONE"), "\(first)")
        #expect(second.contains("LEFT 0"), "\(second)")
        let tipA = try #require(first.split(separator: "\n").first { $0.hasPrefix("TIP ") }).dropFirst(4)
        let tipB = try #require(second.split(separator: "\n").first { $0.hasPrefix("TIP ") }).dropFirst(4)

        let landedA = try await store.land(sessionID: ravager.record.sessionID, name: "host")
        let landedB = try await store.land(sessionID: wiper.record.sessionID, name: "host")
        #expect(landedA.landedBranch == ravager.record.branch && landedA.keptClone == ravager.paths.clone)
        #expect(landedB.landedBranch == wiper.record.branch && landedB.keptClone == nil)
        let hostTipA = try gitOutput("rev-parse \(ravager.record.branch)", in: host)
        let hostTipB = try gitOutput("rev-parse \(wiper.record.branch)", in: host)
        #expect(hostTipA == String(tipA), "\(first)")
        #expect(hostTipB == String(tipB), "\(second)")
        #expect(!exists(marker), "the host ran something the agent planted")

        let after = try fingerprint(host + "/.git")
        for (path, hash) in before { #expect(after[path] == hash, "\(path) changed or vanished") }
        let allowed = ["objects/", "refs/heads/paddock/", "logs/refs/heads/paddock/", "refs/paddock-base/"]
        for path in after.keys where before[path] == nil {
            #expect(allowed.contains { path.hasPrefix($0) }, "unexpected new file \(path)")
        }
        try sh("git fsck --strict --no-dangling", in: host)
    }

    /// Each mount-mode attack from inside the sandbox fails against paddock's mounts, and the host's git runs
    /// nothing afterwards. The same script against an unprotected copy shows every trap would have worked.
    @Test func mountModeAttacksFailInsideTheSandbox() async throws {
        try await TestImage.shared.ensure()
        let directory = try TestDirectory("engine-mount")
        defer { directory.remove() }
        let marker = directory.path + "/PWNED"
        var outcomes: [Bool: (output: String, fired: Bool, intact: Bool)] = [:]

        for protected in [true, false] {
            let project = directory.path + (protected ? "/protected" : "/control")
            try makeRepository(project)
            try sh("echo '[user]' > .gitconfig-project && git config include.path ../.gitconfig-project", in: project)
            let protection =
                protected ? try await MountModeGuard(git: realGit()).protect(project: project) : MountModeProtection()
            // Files owned by the sandbox user, as on a developer's machine: only the mounts may stop the agent.
            try sh("chown -R 1000:1000 .", in: project)
            // What git reads as instructions; refs, logs and the index change with every commit.
            let instructions = ["config", "commondir", "hooks/", "info/", "remotes/", "branches/", "objects/info/"]
            var watched = try fingerprint(project + "/.git").filter { entry in
                instructions.contains { entry.key == $0 || ($0.hasSuffix("/") && entry.key.hasPrefix($0)) }
            }
            watched["../.gitconfig-project"] = try fingerprint(project)[".gitconfig-project"]
            let script = """
                cd /workspace
                printf '#!/bin/sh\\necho "$0" >> %s\\n' "$MARKER" > evil.sh && chmod +x evil.sh
                \(attemptFunction)
                attempt hook sh -c 'cp evil.sh .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit'
                attempt fsmonitor git config core.fsmonitor "$PROJECT/evil.sh"
                attempt sshCommand git config core.sshCommand "$PROJECT/evil.sh"
                attempt hooksPath git config core.hooksPath "$PROJECT/evilhooks"
                attempt includeIf git config includeIf.gitdir:/.path "$PROJECT/evil.cfg"
                attempt append-config sh -c 'printf "[core]\\n\\tfsmonitor = %s/evil.sh\\n" "$PROJECT" >> .git/config'
                attempt include-file sh -c 'printf "[core]\\n\\tfsmonitor = %s/evil.sh\\n" "$PROJECT" >> .gitconfig-project'
                attempt commondir sh -c 'cp -r .git evilgit && git --git-dir=evilgit config core.fsmonitor "$PROJECT/evil.sh" && echo ../evilgit > .git/commondir'
                attempt attributes sh -c 'echo "* filter=evil" > .git/info/attributes'
                attempt alternates sh -c 'echo /tmp > .git/objects/info/alternates'
                attempt remotes sh -c 'echo "URL: /tmp" > .git/remotes/origin'
                attempt rm-hooks rm -r .git/hooks
                attempt link-hooks sh -c 'mkdir -p evilhooks && cp evil.sh evilhooks/pre-commit && mv .git/hooks .git/hooks-old && ln -s ../evilhooks .git/hooks'
                attempt swap-git sh -c 'mv .git .git-old && git init -q . && git config core.fsmonitor "$PROJECT/evil.sh"'
                git -c user.name=agent -c user.email=agent@example.invalid commit -q --allow-empty -m agent && echo COMMIT-OK
                """
            let output = try runSandbox(
                name: "\(directory.id)-\(protected ? "p" : "c")",
                mounts: [.bind(project, at: "/workspace", readOnly: false)] + protection.mounts,
                environment: ["MARKER": marker, "PROJECT": project], script: script)

            // The host user's everyday git; a global config trusts the sandbox uid's files, as uid equality would.
            try? FileManager.default.removeItem(atPath: marker)
            let global = directory.path + "/gitconfig"
            try "[safe]\n\tdirectory = *\n".write(toFile: global, atomically: true, encoding: .utf8)
            _ = try execute(
                [
                    "sh", "-c",
                    "cd \"$1\" && git status >/dev/null; git diff >/dev/null; git -c user.name=h -c user.email=h@x commit -q --allow-empty -m host",
                    "host-git", project,
                ], environment: ["GIT_CONFIG_GLOBAL": global])
            let now = try fingerprint(project + "/.git")
            var current = now
            current["../.gitconfig-project"] = try fingerprint(project)[".gitconfig-project"]
            let intact = watched.allSatisfy { current[$0.key] == $0.value }
            outcomes[protected] = (output, exists(marker), intact)
        }

        let guarded = try #require(outcomes[true])
        #expect(!guarded.output.contains("ATTACK-SUCCEEDED"), "\(guarded.output)")
        #expect(guarded.output.components(separatedBy: "blocked ").count - 1 == 14, "\(guarded.output)")
        #expect(guarded.output.contains("COMMIT-OK"), "the agent must still be able to commit:\n\(guarded.output)")
        #expect(!guarded.fired, "the host's git ran something the agent planted")
        #expect(guarded.intact, "a file git reads as instructions changed")
        let control = try #require(outcomes[false])
        #expect(control.output.components(separatedBy: "ATTACK-SUCCEEDED").count - 1 >= 10, "\(control.output)")
        #expect(control.fired, "control: without the mounts the planted traps should fire")
        #expect(!control.intact)
    }
}
