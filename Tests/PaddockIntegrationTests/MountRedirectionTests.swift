import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A trusted mount entry names a path; the agent must not decide where it leads. Each case plants a link (from
/// inside a session, where the agent can write) before the user trusts an innocent-looking entry, then a second
/// session tries to use what the link leads to.
@Suite("Mounts the agent can redirect", .serialized, .tags(.engine))
struct MountRedirectionTests {
    enum Redirect: String, CaseIterable, Sendable {
        /// `./data` → `~/.claude`, read-only: the user's OAuth token.
        case claudeCredentials
        /// `./data` → `~/.profile`, read-write: the host's login script.
        case loginScript
        /// `./data` → the project's `.git`, read-write: a hook the host's next commit runs.
        case projectGit
        /// A link inside another read-write mount, named by a second mount.
        case throughAnotherMount
    }

    func marker(_ fixture: IntegrationFixture) -> String { "paddock-secret-\(fixture.id)" }

    /// Sets the scene, plants the link from inside, trusts the entry; returns the second session's flags and script.
    func prepare(_ redirect: Redirect, _ fixture: IntegrationFixture) async throws -> (flags: [String], script: String)
    {
        try await fixture.write("innocent\n", to: fixture.project + "/data/readme")
        try await fixture.write(marker(fixture), to: fixture.home + "/.claude/.credentials.json")
        try await fixture.write("# login\n", to: fixture.home + "/.profile")
        try await fixture.write("scratch\n", to: fixture.home + "/cache/readme")
        let plant: String
        var plantFlags: [String] = []
        var config = "[[mounts]]\npath = \"./data\"\ntarget = \"/mnt/data\"\n"
        var flags: [String] = []
        let script: String
        switch redirect {
        case .claudeCredentials:
            plant = "mv data data.old && ln -s \(fixture.home)/.claude data"
            script = "cat /mnt/data/.credentials.json"
        case .loginScript:
            plant = "mv data data.old && ln -s \(fixture.home)/.profile data"
            config += "rw = true\n"
            script = "echo 'touch /tmp/pwned-by-profile' >> /mnt/data && echo WROTE"
        case .projectGit:
            plant = "mv data data.old && ln -s \(fixture.project)/.git data"
            config += "rw = true\n"
            script =
                "mkdir -p /mnt/data/hooks && printf '#!/bin/sh\\ntouch \(fixture.root)/pwned-by-hook\\n' > /mnt/data/hooks/pre-commit && chmod +x /mnt/data/hooks/pre-commit && echo WROTE"
        case .throughAnotherMount:
            plant = "ln -s \(fixture.home)/.claude /cache/link"
            plantFlags = ["--mount", "~/cache:/cache:rw"]
            config = ""
            flags = ["--mount", "~/cache:/cache:rw", "--mount", "~/cache/link:/mnt/data"]
            script = "cat /mnt/data/.credentials.json"
        }
        let planted = try await fixture.paddock(
            ["run", "--agent", "shell"] + plantFlags + ["--", "sh", "-c", plant + " && echo PLANTED"])
        #expect(planted.stdout == "PLANTED\n", "\(planted.stderr)")
        if !config.isEmpty {
            try await fixture.write(config, to: fixture.project + "/paddock.toml")
            #expect(try await fixture.paddock(["trust"]).status == 0)
        }
        return (flags, script)
    }

    func expectHeld(_ redirect: Redirect, _ fixture: IntegrationFixture, _ result: ProcessOutput) async throws {
        #expect(!result.stdout.contains(marker(fixture)), "the session read the user's credentials")
        #expect(!result.stdout.contains("WROTE"), "the session wrote where the link led: \(result.stdout)")
        #expect(result.status == 77, "refused before anything ran: \(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("agent"), "the refusal says why: \(result.stderr)")
        #expect(try String(contentsOfFile: fixture.home + "/.profile", encoding: .utf8) == "# login\n")
        if redirect == .projectGit {
            _ = try? await fixture.userShell("git -c user.email=u@u -c user.name=u commit -q --allow-empty -m host")
            #expect(
                !FileManager.default.fileExists(atPath: fixture.root + "/pwned-by-hook"),
                "the host's commit ran the agent's hook")
        }
    }

    @Test(arguments: Redirect.allCases) func aPlantedLinkIsNeverFollowed(redirect: Redirect) async throws {
        try await IntegrationFixture.with { fixture in
            let (flags, script) = try await prepare(redirect, fixture)
            let result = try await fixture.paddock(["run", "--agent", "shell"] + flags + ["--", "sh", "-c", script])
            try await expectHeld(redirect, fixture, result)
        }
    }

    @Test(arguments: [TestEngine.bwrap]) func aPlantedLinkIsNeverFollowedOnOtherEngines(engine: TestEngine) async throws
    {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let (flags, script) = try await prepare(.claudeCredentials, fixture)
            let result = try await fixture.paddock(["run", "--agent", "shell"] + flags + ["--", "sh", "-c", script])
            try await expectHeld(.claudeCredentials, fixture, result)
        }
    }
}
