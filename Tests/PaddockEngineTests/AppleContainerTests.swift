import Foundation
import PaddockCore
import PaddockTestSupport
import Testing

@testable import PaddockEngine

/// Apple's `container` adapter. No Mac ran these commands: the argv follows apple/container 1.1.0's flag
/// definitions (`Sources/Services/ContainerAPIService/Client/Flags.swift`, `Parser.swift` for `--volume`), and
/// the JSON fixtures follow the types it encodes (see each fixture). Selection and doctor use a simulated Mac.
@Suite("Apple container: exact argv and its own JSON")
struct AppleContainerTests {
    let session = SessionID("20261121-0521-k3f9")!

    func sessionSpec() -> ContainerSpec {
        ContainerSpec(
            name: "paddock-app-20261121-0521-k3f9", image: "paddock-claude:abc",
            labels: ["paddock.session": "20261121-0521-k3f9", "paddock.project": "/Users/u/app"],
            user: SandboxUser(uid: 501, gid: 20),
            mounts: [
                .bind("/Users/u/app", at: "/workspace", readOnly: false),
                .volume("paddock-home-app-0123456789ab", at: "/home/agent"),
                .bind("/Users/u/.claude/CLAUDE.md", at: "/home/agent/.claude/CLAUDE.md", readOnly: true),
                .bind("/var/folders/x/gateway/gateway.sock", at: "/run/paddock/gateway.sock", readOnly: true),
            ],
            environment: ["HTTP_PROXY": "http://127.0.0.1:3128"], passthroughEnvironment: ["ANTHROPIC_API_KEY"],
            cpus: 1.5, memory: 4 << 30, pidsLimit: 4096, interactive: true, tty: true, command: ["claude"])
    }

    @Test func runCarriesEveryFlagTheEngineHasAndBindsTheSocketFile() throws {
        #expect(
            try AppleContainerEngine.runArguments(sessionSpec()) == [
                "run", "--rm", "--name", "paddock-app-20261121-0521-k3f9",
                "--label", "paddock.project=/Users/u/app", "--label", "paddock.session=20261121-0521-k3f9",
                "--interactive", "--tty", "--network", "none", "--cap-drop", "ALL", "--user", "501:20", "--init",
                "--memory", "4096M", "--cpus", "2",
                "--volume", "/Users/u/app:/workspace",
                "--volume", "paddock-home-app-0123456789ab:/home/agent",
                "--volume", "/Users/u/.claude/CLAUDE.md:/home/agent/.claude/CLAUDE.md:ro",
                "--volume", "/var/folders/x/gateway/gateway.sock:/run/paddock/gateway.sock:ro",
                "--env", "HTTP_PROXY=http://127.0.0.1:3128", "--env", "ANTHROPIC_API_KEY",
                "--workdir", "/workspace", "--", "paddock-claude:abc", "claude",
            ])
    }

    @Test func pathsTheVolumeSyntaxWouldSplitAreRefused() {
        var spec = sessionSpec()
        spec.mounts = [.bind("/Users/u/a:b", at: "/mnt/x", readOnly: true)]
        #expect(throws: PaddockError.self) { try AppleContainerEngine.runArguments(spec) }
        spec.mounts = [.bind("/Users/u/a,ro", at: "/mnt/x", readOnly: false)]
        #expect(throws: PaddockError.self) { try AppleContainerEngine.runArguments(spec) }
        spec.mounts = []
        spec.network = .host
        #expect(throws: PaddockError.self) { try AppleContainerEngine.runArguments(spec) }
    }

    @Test func theRelayRunsAttachedOnTheDefaultNetwork() throws {
        let plan = RelayPlan.make(
            session: session, image: "i", route: EngineFlavor.appleContainer.relayRoute, port: 5, launcherPID: 1,
            launcherStart: "t")
        let argv = try AppleContainerEngine.runArguments(plan.container)
        #expect(argv.contains("--interactive") && !argv.contains("--detach") && !argv.contains("--network"))
        #expect(
            argv.suffix(8) == [
                "sh", "-c", "socat \"$@\" & read _; kill $!", "paddock-relay", "-b", "131072",
                "UNIX-LISTEN:/run/paddock/gateway.sock,fork,perm=0666,unlink-early", "TCP:host.container.internal:5",
            ])
    }

    @Test func buildExecListRemoveAndVolumes() {
        let build = ImageBuildRequest(
            contextDirectory: "/b/ctx", tag: "paddock-claude:abc", labels: ["paddock.context-sha256": "h"],
            noCache: true, pull: true)
        #expect(
            AppleContainerEngine.buildArguments(build) == [
                "build", "--tag", "paddock-claude:abc", "--file", "/b/ctx/Dockerfile", "--label",
                "paddock.context-sha256=h",
                "--no-cache", "--pull", "/b/ctx",
            ])
        #expect(
            AppleContainerEngine.execArguments(container: "c", user: "501:20", command: ["sh"], tty: true) == [
                "exec", "--interactive", "--tty", "--user", "501:20", "--workdir", "/workspace", "c", "sh",
            ])
        #expect(AppleContainerEngine.listArguments == ["ls", "--all", "--format", "json"])
        #expect(AppleContainerEngine.removeArguments(["a", "b"]) == ["rm", "--force", "a", "b"])
        #expect(AppleContainerEngine.stopArguments("a", timeoutSeconds: 3) == ["stop", "--time", "3", "a"])
        #expect(
            AppleContainerEngine.volumeCreateArguments("v", labels: ["paddock.relay": "s"]) == [
                "volume", "create", "--label", "paddock.relay=s", "v",
            ])
        #expect(AppleContainerEngine.volumeRemoveArguments(["v"]) == ["volume", "rm", "v"])
        #expect(AppleContainerEngine.volumeListArguments == ["volume", "ls", "--format", "json"])
        #expect(AppleContainerEngine.statusArguments == ["system", "status", "--format", "json"])
    }

    /// `container ls --all --format json` and `container inspect`: arrays of ManagedContainer as 1.1.0 encodes
    /// them (`Sources/ContainerResource/Container/ManagedContainer.swift`: id, configuration, status;
    /// `ContainerStatus.swift`: state, networks, startedDate; `ContainerConfiguration.swift` for the fields;
    /// `OutputRendering.swift`: sorted keys, ISO 8601 dates). Values are made up.
    static let listFixture = """
        [{"configuration":{"capAdd":[],"capDrop":["ALL"],"creationDate":"2026-11-21T05:21:03Z","id":"paddock-app-20261121-0521-k3f9",\
        "image":{"descriptor":{"digest":"sha256:aa","mediaType":"application/vnd.oci.image.index.v1+json","size":1},"reference":"paddock-claude:abc"},\
        "initProcess":{"arguments":["claude"],"environment":[],"executable":"/bin/sh","terminal":true,"user":{"id":{"gid":20,"uid":501}},"workingDirectory":"/workspace"},\
        "labels":{"paddock.project":"/Users/u/app","paddock.session":"20261121-0521-k3f9"},"mounts":[],"networks":[],"platform":{"architecture":"arm64","os":"linux"},\
        "publishedPorts":[],"publishedSockets":[],"readOnly":false,"resources":{"cpus":2,"memoryInBytes":4294967296},"rosetta":false,\
        "runtimeHandler":"container-runtime-linux","ssh":false,"sysctls":{},"useInit":true,"virtualization":false},\
        "id":"paddock-app-20261121-0521-k3f9","status":{"networks":[],"startedDate":"2026-11-21T05:21:04Z","state":"running"}},\
        {"configuration":{"id":"buildkit","labels":{},"image":{"reference":"builder"}},"id":"buildkit","status":{"networks":[],"state":"running"}},\
        {"configuration":{"id":"paddock-relay-20261121-0521-k3f9","labels":{"paddock.relay":"20261121-0521-k3f9","paddock.launcher-pid":"77"}},\
        "id":"paddock-relay-20261121-0521-k3f9","status":{"networks":[],"state":"stopped"}}]
        """

    @Test func listAndInspectOutputParses() {
        let parsed = AppleContainerEngine.parseContainers(Self.listFixture)
        #expect(parsed.count == 3)
        #expect(
            parsed[0]
                == ContainerSummary(
                    name: "paddock-app-20261121-0521-k3f9", id: "paddock-app-20261121-0521-k3f9", state: "running",
                    status: "2026-11-21T05:21:04Z",
                    labels: ["paddock.project": "/Users/u/app", "paddock.session": "20261121-0521-k3f9"]))
        #expect(parsed[2].labels[RelayPlan.label] == "20261121-0521-k3f9" && parsed[2].state == "stopped")
        #expect(AppleContainerEngine.parseContainers("container not found").isEmpty)
    }

    @Test func listingKeepsOnlyPaddocksAndHonoursAll() async throws {
        let fixture = Self.listFixture
        let runner = RecordingRunner { _ in ProcessOutput(status: 0, stdout: fixture, stderr: "") }
        let engine = AppleContainerEngine(runner: runner)
        #expect(try await engine.containers(all: true).map(\.name) == ["paddock-app-20261121-0521-k3f9"])
        #expect(
            try await engine.containers(withLabel: RelayPlan.label, all: false).isEmpty,
            "a stopped relay is not running")
        #expect(try await engine.containers(withLabel: RelayPlan.label, all: true).count == 1)
    }

    /// `container volume ls --format json` (1.1.0 `Sources/ContainerResource/Volume/VolumeResource.swift`: id,
    /// configuration; `VolumeConfiguration.swift`: name, driver, format, source, labels, options, creationDate).
    @Test func volumeListParses() {
        let json = """
            [{"configuration":{"creationDate":"2026-11-21T05:21:03Z","driver":"local","format":"ext4","labels":{"paddock.relay":"s"},\
            "name":"paddock-relay-s","options":{},"source":"/Users/u/Library/Application Support/com.apple.container/volumes/paddock-relay-s/volume.img"},"id":"paddock-relay-s"}]
            """
        #expect(
            AppleContainerEngine.parseVolumes(json) == [
                VolumeSummary(name: "paddock-relay-s", labels: ["paddock.relay": "s"])
            ])
    }

    /// `container image inspect` (1.1.0 `Sources/ContainerResource/Image/ImageResource.swift`: variants[].config
    /// is the OCI image config, whose `config.Labels` carries the build's labels).
    @Test func imageLabelsParse() {
        let json = """
            [{"configuration":{"creationDate":"2026-11-21T05:00:00Z","descriptor":{"digest":"sha256:aa","mediaType":"m","size":1},"name":"paddock-claude:abc"},\
            "id":"aa","variants":[{"config":{"architecture":"arm64","config":{"Labels":{"paddock.context-sha256":"h"}},"os":"linux"},"platform":{"architecture":"arm64","os":"linux"},"size":1}]}]
            """
        #expect(AppleContainerEngine.parseImageLabels(json) == ["paddock.context-sha256": "h"])
        #expect(AppleContainerEngine.parseImageLabels("[]") == nil)
    }

    /// `container system status --format json` (1.1.0 `Sources/ContainerCommands/System/SystemStatus.swift`).
    @Test func statusSaysWhetherItRuns() {
        #expect(AppleContainerEngine.isRunning(statusJSON: #"{"appRoot":"/a","installRoot":"/i","status":"running"}"#))
        #expect(!AppleContainerEngine.isRunning(statusJSON: #"{"status":"not running"}"#))
        #expect(!AppleContainerEngine.isRunning(statusJSON: #"{"status":"unregistered"}"#))
    }

    @Test func onASimulatedMacItIsChosenFirstWhenRunning() throws {
        let mac = EngineProbe(
            dockerReachable: true, podmanReachable: false, bwrapInstalled: false, isLinux: false, hostIsRoot: false,
            appleContainerRunning: true)
        let choice = try EngineSelection.choose(request: nil, probe: mac)
        #expect(choice.kind == .container)
        #expect(choice.reason.contains("Apple's `container` is running"))
        var stopped = mac
        stopped.appleContainerRunning = false
        #expect(try EngineSelection.choose(request: nil, probe: stopped).kind == .docker)
        #expect(try EngineKind.parse("container", source: "--engine") == .container)
    }

    @Test func doctorSaysWhatIsMissingAndWhatStandsIn() {
        let engine = AppleContainerEngine(runner: RecordingRunner())
        #expect(engine.limitations.count == 3)
        #expect(
            engine.limitations.contains {
                $0.hasPrefix("no no-new-privileges on this engine: each sandbox is its own lightweight VM")
            })
        #expect(engine.limitations.contains { $0.hasPrefix("no pids limit") })
        #expect(EngineFlavor.appleContainer.gatewayDetail(.boundSocketFile).hasPrefix("Apple container: socket-file"))
        #expect(EngineFlavor.colima.gatewayDetail(.relay).contains("a VM sits between"))
    }
}
