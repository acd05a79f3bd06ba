import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

@testable import PaddockEngine

/// The Mac's branches of paddock's own logic, compiled and run on Linux by scripts/check-macos-paths.sh (a build
/// with `-D PADDOCK_SIMULATE_MACOS`). It proves that those branches compile and choose as intended; it does not
/// prove that Darwin's APIs behave like Glibc's, nor that any engine on a real Mac answers as its source says.
#if PADDOCK_SIMULATE_MACOS
    @Suite("A simulated Mac")
    struct MacSimulationTests {
        @Test func theHostIsAMacWithItsSocketPathLimit() {
            #expect(HostSystem.isMac)
            #expect(HostSystem.maxSocketPath == 103)
        }

        /// A `container` on PATH whose `system status` says running is chosen before a Docker that answers.
        @Test func theLiveProbeFindsAppleContainerFirst() async throws {
            let directory = NSTemporaryDirectory() + "paddock-macsim-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let script = directory + "/container"
            try "#!/bin/sh\necho '{\"status\":\"running\",\"appRoot\":\"/a\"}'\n".write(
                toFile: script, atomically: true, encoding: .utf8)
            chmod(script, 0o755)
            let probe = await EngineProbe.live(runner: SubprocessRunner(), environment: ["PATH": directory])
            #expect(probe.appleContainerRunning && !probe.isLinux)
            #expect(try EngineSelection.choose(request: nil, probe: probe).kind == .container)
        }

        /// On a Mac the Docker CLI's engine is asked what it is, and a VM engine gets the relay.
        @Test(arguments: [
            (
                #"{"OperatingSystem":"Docker Desktop","Name":"docker-desktop","ServerVersion":"28.0"}"#,
                EngineFlavor.dockerDesktop
            ),
            (#"{"OperatingSystem":"Ubuntu 24.04","Name":"colima","ServerVersion":"27.4"}"#, .colima),
            (#"{"OperatingSystem":"OrbStack","Name":"orbstack","ServerVersion":"27.3"}"#, .orbStack),
            (#"{"OperatingSystem":"Alpine","Name":"lima-rancher-desktop","ServerVersion":"27.3"}"#, .rancherDesktop),
        ])
        func dockerOnAMacIsAskedAndRelayed(info: String, flavor: EngineFlavor) async throws {
            let runner = RecordingRunner { _ in ProcessOutput(status: 0, stdout: info, stderr: "") }
            let engine = DockerEngine(runner: runner)
            let asked = await engine.engineFlavor()
            #expect(asked == flavor)
            #expect(try engine.capabilities.transport(forced: nil, flavor: asked, engine: "docker") == .relay)
            #expect(runner.commands.map(\.argv) == [["docker", "info", "--format", "{{json .}}"]])
        }

        @Test func podmanMachineIsRelayed() async throws {
            let info =
                #"{"host":{"serviceIsRemote":true,"os":"linux","security":{"rootless":true}},"version":{"Version":"5.3"}}"#
            let runner = RecordingRunner { _ in ProcessOutput(status: 0, stdout: info, stderr: "") }
            let engine = PodmanEngine(runner: runner)
            #expect(await engine.engineFlavor() == .podmanMachine)
            #expect(EngineFlavor.podmanMachine.relayRoute == .hostAlias("host.containers.internal"))
        }
    }
#endif
