import Foundation
import PaddockCore
import Testing

/// The gateway transport as part of the engine seam: which engine product gets which transport, what each
/// transport mounts and sets, and the relay's exact container. Tables, no engine.
@Suite("Gateway transports")
struct GatewayTransportTests {
    typealias Report = EngineFlavor.Report

    /// What each engine says about itself (`docker info` Name/OperatingSystem, `podman info` serviceIsRemote),
    /// on a Linux host and on a simulated Mac.
    static let detections: [(Report, EngineFlavor)] = [
        (
            Report(operatingSystem: "Debian GNU/Linux 12 (bookworm)", name: "build-host", hostIsMac: false),
            .dockerEngine
        ),
        (Report(operatingSystem: "Docker Desktop", name: "docker-desktop", hostIsMac: true), .dockerDesktop),
        (Report(operatingSystem: "Docker Desktop", name: "docker-desktop", hostIsMac: false), .dockerDesktop),
        (Report(operatingSystem: "Ubuntu 24.04 LTS", name: "colima", hostIsMac: true), .colima),
        (Report(operatingSystem: "Ubuntu 24.04 LTS", name: "colima-work", hostIsMac: true), .colima),
        (Report(operatingSystem: "OrbStack", name: "orbstack", hostIsMac: true), .orbStack),
        (Report(operatingSystem: "Alpine Linux v3.20", name: "lima-rancher-desktop", hostIsMac: true), .rancherDesktop),
        (Report(operatingSystem: "Ubuntu", name: "lima-default", hostIsMac: true), .lima),
        // A Docker Engine answering a Mac is in some VM, whatever it calls itself.
        (Report(operatingSystem: "Debian GNU/Linux 12", name: "some-vm", hostIsMac: true), .lima),
        (Report(isPodman: true, podmanRemote: false, hostIsMac: false), .podman),
        (Report(isPodman: true, podmanRemote: true, hostIsMac: true), .podmanMachine),
        (Report(isPodman: true, podmanRemote: true, hostIsMac: false), .podmanMachine),
        (Report(operatingSystem: "Ubuntu", serverVersion: "4.9.3-podman", hostIsMac: true), .podmanMachine),
    ]

    @Test(arguments: detections)
    func enginesAreToldApart(report: Report, flavor: EngineFlavor) {
        #expect(EngineFlavor.detect(report) == flavor)
    }

    @Test func eachFlavorHasItsTransportAndRoute() {
        let table: [EngineFlavor: (GatewayTransport, RelayRoute)] = [
            .dockerEngine: (.boundFolder, .hostNetwork),
            .podman: (.boundFolder, .hostNetwork),
            .bubblewrap: (.boundFolder, .hostNetwork),
            .appleContainer: (.boundSocketFile, .hostAlias("host.container.internal")),
            .dockerDesktop: (.relay, .hostAlias("host.docker.internal")),
            .orbStack: (.relay, .hostAlias("host.docker.internal")),
            .colima: (.relay, .hostAlias("host.lima.internal")),
            .rancherDesktop: (.relay, .hostAlias("host.lima.internal")),
            .lima: (.relay, .hostAlias("host.lima.internal")),
            .podmanMachine: (.relay, .hostAlias("host.containers.internal")),
        ]
        #expect(Set(table.keys) == Set(EngineFlavor.allCases), "every flavor has a row")
        for (flavor, (transport, route)) in table {
            #expect(flavor.transport == transport, "\(flavor)")
            #expect(flavor.relayRoute == route, "\(flavor)")
            #expect(flavor.isVirtualMachine == (transport != .boundFolder), "\(flavor)")
        }
    }

    @Test func forcingATransportWinsWhereTheEngineCarriesIt() throws {
        let docker = EngineCapabilities.linuxContainer
        #expect(try docker.transport(forced: nil, flavor: .dockerEngine, engine: "docker") == .boundFolder)
        #expect(try docker.transport(forced: nil, flavor: .dockerDesktop, engine: "docker") == .relay)
        #expect(try docker.transport(forced: .relay, flavor: .dockerEngine, engine: "docker") == .relay)
        #expect(try docker.transport(forced: .boundSocketFile, flavor: .colima, engine: "docker") == .boundSocketFile)
        let bwrap = EngineCapabilities.bubblewrap
        #expect(throws: PaddockError.self) { try bwrap.transport(forced: .relay, flavor: .bubblewrap, engine: "bwrap") }
        #expect(try bwrap.transport(forced: nil, flavor: .bubblewrap, engine: "bwrap") == .boundFolder)
        let apple = EngineCapabilities.appleContainer
        #expect(try apple.transport(forced: nil, flavor: .appleContainer, engine: "container") == .boundSocketFile)
        #expect(throws: PaddockError.self) {
            try apple.transport(forced: .boundFolder, flavor: .appleContainer, engine: "container")
        }
        #expect(try GatewayTransport.parse("Relay", source: "--gateway-transport") == .relay)
        #expect(throws: PaddockError.self) { try GatewayTransport.parse("tcp", source: "--gateway-transport") }
    }

    @Test func capabilitiesSayWhatIsMissingAndWhatStandsIn() {
        #expect(EngineCapabilities.linuxContainer.hardeningNotes.isEmpty)
        let notes = EngineCapabilities.appleContainer.hardeningNotes
        #expect(EngineCapabilities.appleContainer.missingHardening == [.noNewPrivileges, .pidsLimit, .seccompProfile])
        #expect(notes.count == 3)
        #expect(notes.allSatisfy { $0.contains("its own lightweight VM") })
        #expect(!EngineCapabilities.bubblewrap.image && !EngineCapabilities.bubblewrap.exec)
    }

    // MARK: what each transport puts in the sandbox

    let paths = PaddockPaths(
        home: "/home/u", configDirectory: "/home/u/.config/paddock", stateDirectory: "/home/u/.local/state/paddock")
    let session = SessionID("20261121-0521-k3f9")!

    func plan(_ attachment: GatewayAttachment) throws -> ContainerSpec {
        var request = SessionRequest(
            sessionID: session, projectRoot: "/home/u/app", workspaceSource: "/home/u/app", hostHome: "/home/u",
            hostUID: 1234, hostGID: 1234,
            launcherPID: 1, config: PaddockConfig(), profile: .shell, userArguments: ["make"], imageTag: "i",
            paths: paths)
        request.gateway = attachment
        return try SessionPlanner.plan(request) { _ in false }
    }

    @Test func eachTransportMountsItsSocketReadOnlyAndKeepsNoNetwork() throws {
        let link = GatewayLink(
            transport: .boundFolder, flavor: .dockerEngine, sessionID: session, directory: "/s/gateway",
            socket: "/s/gateway/gateway.sock", port: 40000, credential: ProxyCredential(secret: "abc"))
        var folder = link
        folder.credential = nil
        var file = folder
        file.transport = .boundSocketFile
        var relay = link
        relay.transport = .relay
        let expected: [(GatewayLink, Mount)] = [
            (folder, .bind("/s/gateway", at: "/run/paddock", readOnly: true)),
            (file, .bind("/s/gateway/gateway.sock", at: "/run/paddock/gateway.sock", readOnly: true)),
            (relay, .volume("paddock-relay-20261121-0521-k3f9", at: "/run/paddock", readOnly: true)),
        ]
        for (link, mount) in expected {
            let spec = try plan(link.attachment)
            #expect(spec.mounts.filter { $0.target.hasPrefix("/run/paddock") } == [mount], "\(link.transport)")
            #expect(spec.network == .none)
            #expect(spec.command.suffix(2) == ["paddock-entry", "make"])
        }
        #expect(folder.relayPlan(image: "i") == nil && file.relayPlan(image: "i") == nil)
        #expect(relay.relayPlan(image: "i") != nil)
    }

    @Test func theRelaySecretTravelsInEveryProxyVariableAndOnlyThere() throws {
        let credential = ProxyCredential(secret: "s3cr3t")
        let spec = try plan(GatewayAttachment(transport: .relay, source: "v", credential: credential))
        // Apart from the plain variables: the engine adapters keep these out of argv.
        let secret = spec.secretEnvironment
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
            #expect(secret[name] == "http://paddock:s3cr3t@127.0.0.1:3128")
            #expect(spec.environment[name] == nil)
        }
        #expect(secret["ALL_PROXY"] == "socks5h://paddock:s3cr3t@127.0.0.1:3128")
        #expect(secret["GIT_SSH_COMMAND"]?.contains(",proxyauth=paddock:s3cr3t'") == true)
        #expect(secret["PADDOCK_PROXY_AUTH"] == "paddock:s3cr3t")
        #expect(secret["PADDOCK_PROBE_AUTHORIZATION"] == "Basic cGFkZG9jazpzM2NyM3Q=")
        #expect(spec.environment["NO_PROXY"] == "localhost,127.0.0.1,::1")
        #expect(!spec.environment.values.contains { $0.contains("s3cr3t") })
        #expect(!spec.passthroughEnvironment.contains("PADDOCK_PROXY_AUTH"))
        let folder = try plan(GatewayAttachment(transport: .boundFolder, source: "/s"))
        #expect(folder.environment["HTTP_PROXY"] == "http://127.0.0.1:3128")
        #expect(folder.secretEnvironment.isEmpty)
        #expect(folder.environment["PADDOCK_PROXY_AUTH"] == nil)
        #expect(GatewayAccess.sshConfig.contains("${PADDOCK_PROXY_AUTH:+,proxyauth=$PADDOCK_PROXY_AUTH}"))
    }

    @Test func theRelayContainerIsExactlyThis() {
        let linux = RelayPlan.make(
            session: session, image: "paddock-shell:abc", route: .hostNetwork, port: 40123, launcherPID: 77,
            launcherStart: "t0")
        #expect(linux.volume == "paddock-relay-20261121-0521-k3f9")
        #expect(
            linux.labels == [
                "paddock.relay": session.rawValue, "paddock.launcher-pid": "77", "paddock.launcher-start": "t0",
            ])
        #expect(linux.labels[SessionLabels.session] == nil, "a relay is no session: ps, exec and stop never see it")
        let spec = linux.container
        #expect(spec.name == "paddock-relay-20261121-0521-k3f9")
        #expect(spec.network == .host)
        // Attached with stdin open: the launcher's pipe is its lifeline (GatewayRelay).
        #expect(!spec.detached && spec.interactive && !spec.tty && !spec.keepsHostUser)
        #expect(spec.mounts == [.volume("paddock-relay-20261121-0521-k3f9", at: "/run/paddock")])
        #expect(
            spec.command == [
                "sh", "-c", "socat \"$@\" & read _; kill $!", "paddock-relay", "-b", "131072",
                "UNIX-LISTEN:/run/paddock/gateway.sock,fork,perm=0666,unlink-early", "TCP:127.0.0.1:40123",
            ])
        let mac = RelayPlan.make(
            session: session, image: "i", route: EngineFlavor.dockerDesktop.relayRoute, port: 5, launcherPID: 1,
            launcherStart: "")
        #expect(mac.container.network == .engineDefault)
        #expect(mac.container.command.last == "TCP:host.docker.internal:5")
    }

    @Test func anUnreachableGatewayNamesEngineTransportAndFix() {
        let base = GatewayLink(
            transport: .boundFolder, flavor: .dockerDesktop, sessionID: session, directory: "/d", socket: "/d/s",
            port: 4321)
        var relay = base
        relay.transport = .relay
        var file = base
        file.transport = .boundSocketFile
        let cases: [(GatewayLink, [String])] = [
            (base, ["docker (Docker Desktop)", "(`folder`)", "--gateway-transport relay"]),
            (relay, ["(`relay`)", "127.0.0.1:4321", "as host.docker.internal"]),
            (file, ["(`socket-file`)", "Apple `container` 1.1.0"]),
        ]
        for (link, phrases) in cases {
            let message = link.unreachable(engine: "docker").description
            for phrase in phrases { #expect(message.contains(phrase), "\(message)") }
            #expect(message.contains("--offline"))
        }
    }

    @Test func theProbeRunsBeforeTheAgentAndStopsWithItsOwnStatus() throws {
        let argv = GatewayAccess.wrap(["agent"])
        let script = argv[2]
        let bridge = try #require(script.range(of: "TCP-LISTEN:3128"))
        let probe = try #require(script.range(of: "paddock-probe"))
        let agent = try #require(script.range(of: "exec \"$@\""))
        #expect(bridge.lowerBound < probe.lowerBound && probe.upperBound < agent.lowerBound)
        #expect(script.contains(GatewayAccess.probeScript))
        #expect(Array(argv.suffix(2)) == ["paddock-entry", "agent"])
        #expect(GatewayAccess.probeScript.contains("exit 97"))
        #expect(GatewayAccess.probeScript.contains("GET /.well-known/paddock-probe HTTP/1.1\\r\\n"))
        #expect(GatewayAccess.probeRequestLine == "GET /.well-known/paddock-probe HTTP/1.1\r\n")
    }

    @Test func credentialsCompareWholeAndEncodeAsClientsDo() {
        let credential = ProxyCredential(secret: "abc")
        #expect(credential.basicToken == "cGFkZG9jazphYmM=")
        #expect(credential.accepts(authorization: " Basic cGFkZG9jazphYmM= "))
        #expect(credential.accepts(authorization: "basic cGFkZG9jazphYmM="))
        #expect(!credential.accepts(authorization: "Basic cGFkZG9jazphYg=="), "a prefix of the secret")
        #expect(!credential.accepts(authorization: "Basic cGFkZG9jazphYmNk"), "the secret and more")
        #expect(!credential.accepts(authorization: "Digest cGFkZG9jazphYmM="))
        #expect(credential.accepts(user: Array("paddock".utf8), password: Array("abc".utf8)))
        #expect(!credential.accepts(user: Array("other".utf8), password: Array("abc".utf8)))
        let random = ProxyCredential.random()
        #expect(random.secret.count == 64 && random.secret.allSatisfy(\.isHexDigit))
        #expect(random != ProxyCredential.random())
    }
}
