import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

/// What a session start asks the engine, read from `--debug`, which names every process paddock runs. The issue:
/// on Podman each question is a CLI call of 60–110 ms, and a start asked two (the image's label, the container
/// list for orphans) every time.
@Suite("A session start asks the engine only what it must", .serialized, .tags(.engine))
struct StartPathTests {
    public static func ran(_ output: ProcessOutput) -> [String] {
        output.stderr.split(separator: "\n").map(String.init).filter { $0.contains("ran: ") }
    }

    @Test func podmanRemembersTheImageUntilItsStoreChanges() async throws {
        try await IntegrationFixture.with(engine: .podman) { fixture in
            let first = try await fixture.paddock(["run", "--debug", "--agent", "shell", "--", "true"])
            #expect(first.status == 0, "\(first.stderr)")
            let second = try await fixture.paddock(["run", "--debug", "--agent", "shell", "--", "true"])
            #expect(second.status == 0, "\(second.stderr)")
            let asked = Self.ran(second)
            #expect(asked.contains { $0.contains(" run ") }, "the debug log names the run itself: \(asked)")
            #expect(!asked.contains { $0.contains("image inspect") || $0.contains(" info ") }, "\(asked)")
            #expect(!asked.contains { $0.contains(" ps ") }, "no orphan was suspected: \(asked)")

            // Any change to the store's image list asks Podman again, and the session still starts.
            let tag = "localhost/paddock-test/retag-\(fixture.id):x"
            try await fixture.userShell("podman tag \(IntegrationEnvironment.baseImage) \(tag)")
            let third = try await fixture.paddock(["run", "--debug", "--agent", "shell", "--", "true"])
            _ = try? await fixture.userShell("podman rmi \(tag)")
            #expect(third.status == 0, "\(third.stderr)")
            #expect(Self.ran(third).contains { $0.contains("image inspect") }, "\(Self.ran(third))")
        }
    }
}
