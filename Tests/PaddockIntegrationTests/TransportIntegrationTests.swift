import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The gateway transports the Mac engines need, run for real on this machine's Docker and rootless Podman: every
/// engine-independent scenario passes through each, and the relay's loopback port answers only its own session.
@Suite("Gateway transports on real engines", .serialized, .tags(.engine))
struct TransportIntegrationTests {
    let gateway = GatewayIntegrationTests()

    static let cases: [(TestEngine, String)] = [
        (.docker, "relay"), (.podman, "relay"), (.docker, "socket-file"), (.podman, "socket-file"),
    ]

    /// This fixture's relays and relay volumes only: other suites run relays of their own at the same time.
    func relayLeftovers(_ fixture: IntegrationFixture) async throws -> [String] {
        let sessions = (try? FileManager.default.contentsOfDirectory(atPath: fixture.paths.sessionsDirectory)) ?? []
        var leftovers: [String] = []
        for session in sessions {
            let filter = "label=\(RelayPlan.label)=\(session)"
            let containers = try await fixture.engineCommand(["ps", "--all", "--quiet", "--filter", filter])
            let volumes = try await fixture.engineCommand(["volume", "ls", "--quiet", "--filter", filter])
            leftovers += (containers.stdout + volumes.stdout).split(separator: "\n").map(String.init)
        }
        return leftovers
    }

    @Test(arguments: cases)
    func everyScenarioPassesThroughTheTransport(engine: TestEngine, transport: String) async throws {
        try await gateway.withOrigin(engine: engine) { fixture, origin in
            try await gateway.checkEgress(fixture, origin, options: ["--gateway-transport", transport])
            #expect(try await relayLeftovers(fixture).isEmpty, "the relay and its volume go with the session")
        }
    }

    /// The relay's loopback port is reachable by every local process: without this session's secret, or with
    /// another one, it answers 407 (SOCKS: a failed authentication) and logs the attempt.
    @Test(arguments: [TestEngine.docker, .podman])
    func theRelayPortWantsThisSessionsSecret(engine: TestEngine) async throws {
        try await gateway.withOrigin(engine: engine) { fixture, origin in
            let process = try fixture.start([
                "run", "--agent", "shell", "--gateway-transport", "relay", "--", "sleep", "300",
            ])
            defer { process.terminate() }
            let url = "http://origin.test:\(origin.port)/hello.txt"
            let port = try await relayAndPort(fixture).port
            let container = try await gateway.sessionContainer(fixture)
            // Inside: the proxy variables carry the secret; without them the same path is refused.
            #expect(
                try await fixture.waitUntil(timeout: 15) {
                    try await gateway.inside(fixture, container, "curl -s \(url)").stdout == "hello from origin\n"
                })
            // ssh's ProxyCommand (the image's ssh_config) adds the secret from PADDOCK_PROXY_AUTH: its CONNECT
            // reaches the origin (which speaks no SSH, so ssh itself then fails).
            _ = try await gateway.inside(
                fixture, container,
                "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o ConnectTimeout=5 -p \(origin.port) origin.test true"
            )
            let bare = try await gateway.inside(
                fixture, container, "curl -s -o /dev/null -w '%{http_code}' -x http://127.0.0.1:3128 \(url)")
            #expect(bare.stdout == "407", "\(bare.stdout)\(bare.stderr)")
            // Every local user reads every process's argv: the session's secret is in no process's command line.
            let env = try await fixture.engineCommand(["inspect", "--format", "{{json .Config.Env}}", container]).stdout
            let secret = try #require(
                env.components(separatedBy: "PADDOCK_PROXY_AUTH=paddock:").dropFirst().first?.prefix { $0.isHexDigit })
            #expect(secret.count == 64)
            let processes = try await SubprocessRunner().capture(Command("ps", ["-eo", "args"])).stdout
            #expect(processes.contains("paddock-relay-"), "the listing sees the engine's processes")
            #expect(!processes.contains(String(secret)), "the secret is in some process's argv")
            // The relay's volume is read-only inside: the agent cannot swap the socket for its own.
            let write = try await gateway.inside(
                fixture, container,
                "(rm -f /run/paddock/gateway.sock || touch /run/paddock/other) 2>/dev/null && echo WROTE || echo read-only"
            )
            #expect(write.stdout == "read-only\n", "\(write.stdout)")
            // On the host, as any local process would: no secret, another session's, then SOCKS without one.
            let other = ProxyCredential.random()
            let host = try await fixture.userShell(
                """
                curl -s -o /dev/null -w '%{http_code}\\n' -x http://127.0.0.1:\(port) \(url)
                curl -s -o /dev/null -w '%{http_code}\\n' -x http://\(other.userInfo)@127.0.0.1:\(port) \(url)
                curl -s -o /dev/null -w '%{http_connect}\\n' -p -x http://\(other.userInfo)@127.0.0.1:\(port) \(url)
                curl -s --max-time 5 -x socks5h://127.0.0.1:\(port) \(url) || echo socks-refused
                curl -s --max-time 5 -x socks5h://\(other.userInfo)@127.0.0.1:\(port) \(url) || echo socks-wrong-refused
                """)
            #expect(
                host.stdout == "407\n407\n407\nsocks-refused\nsocks-wrong-refused\n", "\(host.stdout)\(host.stderr)")
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
            let log = try await fixture.paddock(["net", "log", "--json"]).stdout
            #expect(log.contains("no proxy credential"), "\(log)")
            let records = log.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(
                records.contains {
                    $0["protocol"] as? String == "connect" && $0["host"] as? String == "origin.test"
                        && $0["decision"] as? String == "allow"
                }, "ssh's CONNECT went through with the secret: \(log)")
            #expect(log.contains("not this session's"), "\(log)")
            #expect(!log.contains(other.secret), "the log never carries a secret")
            #expect(try await relayLeftovers(fixture).isEmpty)
        }
    }

    /// The probe for real: a sandbox whose socket leads nowhere stops before the agent with the probe's status
    /// and says why (every other session test passes through a probe that got its answer).
    @Test func aSandboxWithNoWayOutStopsBeforeTheAgent() async throws {
        try await gateway.withOrigin { fixture, origin in
            let first = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(first.status == 0, "\(first.stderr)")
            let image = try #require(
                try await fixture.engineCommand([
                    "images", "--filter", "label=paddock.agent=shell", "--format", "{{.Repository}}:{{.Tag}}",
                ])
                .stdout.split(separator: "\n").first.map(String.init))
            try await fixture.write("", to: fixture.root + "/nowhere/keep")
            let user = fixture.sandboxUser
            let started = Date()
            let result = try await fixture.engineCommand(
                [
                    "run", "--rm", "--network", "none", "--user", "\(user.uid):\(user.gid)",
                    "--mount", "type=bind,src=\(fixture.root)/nowhere,dst=/run/paddock,readonly", image,
                ] + GatewayAccess.wrap(["echo", "AGENT-RAN"]))
            #expect(result.status == GatewayAccess.probeFailedStatus, "\(result.stdout)\(result.stderr)")
            #expect(!result.stdout.contains("AGENT-RAN"))
            #expect(result.stderr.contains("cannot reach paddock's gateway"))
            #expect(Date().timeIntervalSince(started) < 30)
        }
    }

    /// The running session's relay and the gateway port it forwards to (the last word of its argv).
    func relayAndPort(_ fixture: IntegrationFixture) async throws -> (relay: String, port: Int) {
        var relay = ""
        #expect(
            try await fixture.waitUntil(timeout: 30) {
                guard let session = try await fixture.runningSessionID() else { return false }
                relay = try await fixture.engineCommand(
                    ["ps", "--filter", "label=\(RelayPlan.label)=\(session)", "--format", "{{.Names}}"]).stdout
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                return !relay.isEmpty
            })
        let command = try await fixture.engineCommand(["inspect", "--format", "{{json .Config.Cmd}}", relay]).stdout
        let port = try #require(command.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) })
        return (relay, port)
    }

    /// Any local program may take a freed port; this listener of the test's own answers every connection with a
    /// marker. The sandbox then connects through its relay socket as the agent would.
    func takeTheOldPortAndConnectFromInside(
        _ fixture: IntegrationFixture, container: String, relay: String, port: Int
    ) async throws {
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/usr/bin/socat")
        listener.arguments = ["TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork", "SYSTEM:echo HIJACKED"]
        // Not the test's own output: a listener left holding the runner's pipe keeps `swift test` waiting forever.
        listener.standardInput = FileHandle.nullDevice
        listener.standardOutput = FileHandle.nullDevice
        listener.standardError = FileHandle.nullDevice
        try listener.run()
        defer {
            kill(listener.processIdentifier, SIGKILL)
            listener.waitUntilExit()
        }
        let probe = "socat -T 2 - TCP:127.0.0.1:\(port) </dev/null || true"
        #expect(
            try await fixture.waitUntil(timeout: 10) {
                try await fixture.userShell(probe).stdout.contains("HIJACKED")
            }, "the test's listener holds the gateway's old port")
        let listing = ["ps", "--quiet", "--filter", "name=\(relay)"]
        let gone = try await fixture.waitUntil(timeout: 10) {
            try await fixture.engineCommand(listing).stdout.isEmpty
        }
        let attempt = try await gateway.inside(
            fixture, container, "socat -T 3 - UNIX-CONNECT:/run/paddock/gateway.sock </dev/null; echo END")
        #expect(
            !attempt.stdout.contains("HIJACKED"), "the orphaned sandbox reached the port's new owner: \(attempt.stdout)"
        )
        #expect(gone, "the relay outlived its launcher")
    }

    /// The attack: the relay's socat dials the gateway's loopback port afresh for every connection, so a relay
    /// outliving a killed launcher would hand the sandbox raw TCP to whatever binds that port next. Here a
    /// listener of the test's own takes the port after the launcher is SIGKILLed; nothing from inside reaches
    /// it, because the relay ended with its launcher. `clean` then removes the volume the relay leaves.
    @Test(arguments: [TestEngine.docker, .podman])
    func aKilledLaunchersRelayEndsAndWhatTakesItsPortHearsNothing(engine: TestEngine) async throws {
        try await withOrphanLock {
            try await gateway.withOrigin(engine: engine) { fixture, origin in
                let process = try fixture.start([
                    "run", "--agent", "shell", "--gateway-transport", "relay", "--", "sleep", "300",
                ])
                defer { process.terminate() }
                let found = try await relayAndPort(fixture)
                let relay = found.relay
                let port = found.port
                let container = try await gateway.sessionContainer(fixture)
                let url = "http://origin.test:\(origin.port)/hello.txt"
                #expect(
                    try await fixture.waitUntil(timeout: 15) {
                        try await gateway.inside(fixture, container, "curl -s \(url)").stdout == "hello from origin\n"
                    })
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                try await takeTheOldPortAndConnectFromInside(fixture, container: container, relay: relay, port: port)
                let clean = try await fixture.paddock(["clean"])
                #expect(clean.stdout.contains("removed relay volume"), "\(clean.stdout)\(clean.stderr)")
                #expect(try await relayLeftovers(fixture).isEmpty, "\(clean.stdout)")
            }
        }
    }

    /// `clean` asks every engine a session record names, not only today's default: a Podman session's relay
    /// volume goes though the default engine has since become Docker.
    @Test func cleanRemovesRelayLeftoversOnAnEngineThatIsNotTheDefault() async throws {
        try await withOrphanLock {
            try await gateway.withOrigin(engine: .podman) { fixture, origin in
                let process = try fixture.start([
                    "run", "--agent", "shell", "--gateway-transport", "relay", "--", "sleep", "300",
                ])
                defer { process.terminate() }
                _ = try await relayAndPort(fixture)
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                #expect(try await !relayLeftovers(fixture).isEmpty, "a killed launcher leaves the relay's volume")
                let config = fixture.home + "/.config/paddock/config.toml"
                let text = try String(contentsOfFile: config, encoding: .utf8)
                try text.replacingOccurrences(of: "engine = \"podman\"", with: "engine = \"docker\"")
                    .write(toFile: config, atomically: true, encoding: .utf8)
                let clean = try await fixture.paddock(["clean"])
                #expect(clean.status == 0, "\(clean.stdout)\(clean.stderr)")
                #expect(clean.stdout.contains("removed relay volume"), "\(clean.stdout)\(clean.stderr)")
                #expect(try await relayLeftovers(fixture).isEmpty, "\(clean.stdout)")
                try text.write(toFile: config, atomically: true, encoding: .utf8)
            }
        }
    }
}
