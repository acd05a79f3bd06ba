import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

@testable import PaddockEngine

@Suite("engine selection: explicit wins, else Docker, Podman, bwrap")
struct EngineSelectionTests {
    func probe(docker: Bool = false, podman: Bool = false, bwrap: Bool = false, linux: Bool = true, root: Bool = false)
        -> EngineProbe
    {
        EngineProbe(
            dockerReachable: docker, podmanReachable: podman, bwrapInstalled: bwrap, isLinux: linux, hostIsRoot: root)
    }

    @Test func anExplicitRequestNeedsNoProbe() throws {
        let choice = try EngineSelection.choose(
            request: .init(kind: .bwrap, source: "--engine"),
            probe: {
                Issue.record("probed")
                return probe()
            }())
        #expect(choice == EngineChoice(kind: .bwrap, reason: "requested by --engine"))
    }

    @Test func dockerFirst() throws {
        #expect(
            try EngineSelection.choose(request: nil, probe: probe(docker: true, podman: true, bwrap: true)).kind
                == .docker)
    }

    @Test func podmanWhenDockerIsNotReachable() throws {
        let choice = try EngineSelection.choose(request: nil, probe: probe(podman: true, bwrap: true))
        #expect(choice.kind == .podman)
        #expect(choice.reason.contains("no Docker engine is reachable"))
    }

    @Test func bwrapOnAFreshLinuxMachine() throws {
        let choice = try EngineSelection.choose(request: nil, probe: probe(bwrap: true))
        #expect(choice.kind == .bwrap)
        #expect(choice.reason.contains("bubblewrap is installed"))
    }

    @Test func neverBwrapAutomaticallyAsRootNorOffLinux() {
        #expect(throws: PaddockError.self) {
            try EngineSelection.choose(request: nil, probe: probe(bwrap: true, root: true))
        }
        #expect(throws: PaddockError.self) {
            try EngineSelection.choose(request: nil, probe: probe(bwrap: true, linux: false))
        }
    }

    @Test func nothingAvailableSaysWhatToInstall() {
        do {
            _ = try EngineSelection.choose(request: nil, probe: probe())
            Issue.record("chose an engine with none available")
        } catch let error as PaddockError {
            #expect(error.description.contains("apt-get install bubblewrap"))
            #expect(error.exitCode == 69)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func engineNamesAreChecked() throws {
        #expect(try EngineKind.parse("Podman", source: "--engine") == .podman)
        #expect(throws: PaddockError.self) { try EngineKind.parse("lxc", source: "--engine") }
    }

    @Test func selectWithARequestRunsNothing() async throws {
        let runner = RecordingRunner()
        let choice = try await EngineSelection.select(
            request: .init(kind: .podman, source: "engine in config.toml"), runner: runner, environment: [:])
        #expect(choice.kind == .podman)
        #expect(runner.commands.isEmpty)
    }

    @Test func factoryMakesEachAdapter() {
        let runner = RecordingRunner()
        for kind in EngineKind.allCases {
            let engine = EngineFactory.make(kind, runner: runner, environment: [:], stateDirectory: "/s")
            #expect(engine.name == kind.rawValue)
            #expect(engine.needsImage == (kind != .bwrap))
        }
    }
}
