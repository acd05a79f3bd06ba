import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

/// Attack: an agent of another session that can write this project's parent folder swaps a folder paddock is
/// about to mount (here the project's `.git/objects`, mounted read-write) for a link to a secret of the user's,
/// after paddock checked it and before the engine mounts it. The engine follows the link; the sandbox sees the
/// swap before anything else runs and stops, so the agent never starts and never sees the secret.
@Suite("A mount swapped as the engine mounts it", .serialized, .tags(.engine))
struct MountSwapTests {
    @Test(arguments: [TestEngine.docker, .podman])
    func aFolderSwappedForALinkIsNeverSeenByTheAgent(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let marker = "paddock-secret-\(fixture.id)"
            try await fixture.write(marker + "\n", to: fixture.home + "/secret/id_ed25519")
            // What paddock pins inside the folder, so that the engine mounts the swapped one without complaint.
            try await fixture.write("", to: fixture.home + "/secret/info/.keep")
            let objects = fixture.project + "/.git/objects"
            let cli = engine == .docker ? "docker" : "podman"
            let real = try #require(ExecutableLookup.find(cli, path: "/usr/local/bin:/usr/bin:/bin"))
            // The engine CLI paddock runs, wrapped: on the first `run` it swaps the folder, as the other
            // session's agent would in the window, then hands over to the real CLI.
            let wrapper = fixture.root + "/\(cli)-that-swaps"
            try await fixture.write(
                """
                #!/bin/sh
                for word in "$@"; do
                  if [ "$word" = run ] && [ ! -e \(fixture.root)/swapped ]; then
                    touch \(fixture.root)/swapped
                    mv \(objects) \(objects).moved && ln -s \(fixture.home)/secret \(objects)
                    break
                  fi
                done
                exec \(real) "$@"
                """, to: wrapper)
            chmod(wrapper, 0o755)
            let script = "cat /workspace/.git/objects/id_ed25519 > /workspace/leaked; echo agent-ran > /workspace/ran"
            let result = try await fixture.paddock(
                ["run", "--agent", "shell", "--", "sh", "-c", script],
                environment: [engine == .docker ? "PADDOCK_DOCKER" : "PADDOCK_PODMAN": wrapper])
            #expect(FileManager.default.fileExists(atPath: fixture.root + "/swapped"), "the swap happened")
            #expect(result.status == MountIdentityCheck.changedStatus, "\(result.stdout)\n\(result.stderr)")
            #expect(result.stderr.contains("not the one paddock checked"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: fixture.project + "/ran"), "the agent never started")
            let leaked = (try? String(contentsOfFile: fixture.project + "/leaked", encoding: .utf8)) ?? ""
            #expect(!leaked.contains(marker))
            // Put the project back for the fixture's own checks.
            try await fixture.shell("rm -f \(objects) && mv \(objects).moved \(objects)", in: fixture.root)
        }
    }
}
