import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The gateway from inside real sessions: the only way out, by name, logged, live, and gone with the launcher.
@Suite("The gateway from inside a session", .serialized, .tags(.engine))
struct GatewayIntegrationTests {
    /// Global config: the test origin is `origin.test` (and `late.test`) on 127.0.0.1, allowed by name and port;
    /// the CIDR rule is what lets a name resolve to loopback at all.
    func configure(_ fixture: IntegrationFixture, _ origin: OriginServer, extra: String = "") async throws {
        try await fixture.write(
            """
            engine = "\(fixture.engine.rawValue)"
            [image]
            base = "\(IntegrationEnvironment.baseImage)"
            [network]
            allow = ["origin.test:\(origin.port)", "127.0.0.1/32"]
            \(extra)
            [network.hosts]
            "origin.test" = "127.0.0.1"
            "late.test" = "127.0.0.1"
            "denied.test" = "127.0.0.1"

            """, to: fixture.home + "/.config/paddock/config.toml")
    }

    func withOrigin(
        engine: TestEngine = .docker, _ body: (IntegrationFixture, OriginServer) async throws -> Void
    ) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let origin = try await OriginServer.start(root: fixture.root + "/origin")
            defer { origin.stop() }
            try await configure(fixture, origin)
            try await body(fixture, origin)
        }
    }

    func sessionContainer(_ fixture: IntegrationFixture) async throws -> String {
        #expect(try await fixture.waitUntil { try await !fixture.containers().isEmpty })
        return try #require(try await fixture.containers().first)
    }

    /// Runs a command in the running session as its user, the way the agent would.
    func inside(_ fixture: IntegrationFixture, _ container: String, _ script: String) async throws -> ProcessOutput {
        let user = fixture.sandboxUser
        return try await fixture.engineCommand([
            "exec", "--user", "\(user.uid):\(user.gid)", container, "sh", "-c", script,
        ])
    }

    @Test(arguments: TestEngine.allCases)
    func allowedNamesPassDeniedOnesGetTheHintAndNothingElseLeaves(engine: TestEngine) async throws {
        try await withOrigin(engine: engine) { fixture, origin in
            try await checkEgress(fixture, origin)
        }
    }

    /// curl and git through the gateway, 403 with the hint, no raw IP, no TLS to a denied name, no direct
    /// connection, no DNS, no bypass; each connection logged. `options` go to `paddock run` (a transport).
    func checkEgress(_ fixture: IntegrationFixture, _ origin: OriginServer, options: [String] = []) async throws {
        do {
            let port = origin.port
            let script = """
                curl -sS http://origin.test:\(port)/hello.txt
                git clone -q http://origin.test:\(port)/repo.git /tmp/clone && cat /tmp/clone/README
                curl -s -o /dev/null -w 'denied:%{http_code}\\n' http://denied.test:\(port)/
                curl -s http://denied.test:\(port)/ | grep -o 'paddock allow denied.test:\(port)'
                NO_PROXY= no_proxy= curl -s -o /dev/null -w 'rawip:%{http_code}\\n' http://127.0.0.2:\(port)/
                curl -s -o /dev/null -w 'tls-denied:%{http_code}\\n' https://denied.test/ || true
                (exec 3<>/dev/tcp/127.0.0.1/\(port)) 2>/dev/null && echo DIRECT-CONNECTED || echo direct-refused
                getent hosts origin.test >/dev/null && echo DNS-RESOLVED || echo no-dns
                curl -s --max-time 5 --noproxy '*' http://origin.test:\(port)/hello.txt && echo BYPASSED || echo bypass-fails
                """
            let result = try await fixture.paddock(
                ["run", "--agent", "shell"] + options + ["--", "bash", "-c", script])
            #expect(result.status == 0, "\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(
                lines == [
                    "hello from origin", "cloned through the gateway", "denied:403",
                    "paddock allow denied.test:\(port)",
                    "rawip:403", "tls-denied:000", "direct-refused", "no-dns", "bypass-fails",
                ], "\(result.stdout)\n\(result.stderr)")
            #expect(result.stderr.contains("network:"), "the session ends with a summary line")

            let log = try await fixture.paddock(["net", "log", "--json"])
            let records = log.stdout.split(separator: "\n").compactMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            }
            #expect(records.contains { $0["host"] as? String == "origin.test" && $0["decision"] as? String == "allow" })
            #expect(records.contains { $0["host"] as? String == "denied.test" && $0["decision"] as? String == "deny" })
            #expect(records.contains { $0["host"] as? String == "127.0.0.2" && $0["decision"] as? String == "deny" })
            let deniedOnly = try await fixture.paddock(["net", "log", "--denied"])
            #expect(!deniedOnly.stdout.contains("origin.test"))
            #expect(deniedOnly.stdout.contains("denied.test"))
        }
    }

    /// The agent attacks the bridge and the socket itself: it gains nothing the policy does not allow.
    @Test func theSocketIsNoBackDoor() async throws {
        try await withOrigin { fixture, origin in
            let script = """
                printf 'GET http://denied.test:\(origin.port)/ HTTP/1.1\\r\\nHost: denied.test\\r\\n\\r\\n' | socat - UNIX-CONNECT:/run/paddock/gateway.sock | head -n 1 | tr -d '\\r'
                printf 'CONNECT 127.0.0.1:\(origin.port) HTTP/1.1\\r\\n\\r\\n' | socat - UNIX-CONNECT:/run/paddock/gateway.sock | head -n 1 | tr -d '\\r'
                (rm -f /run/paddock/gateway.sock || touch /run/paddock/other) 2>/dev/null && echo WROTE || echo read-only
                pkill socat; sleep 0.2
                curl -s --max-time 5 http://origin.test:\(origin.port)/hello.txt && echo STILL-OUT || echo offline-without-bridge
                """
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "bash", "-c", script])
            #expect(
                result.stdout == "HTTP/1.1 403 Forbidden\nHTTP/1.1 403 Forbidden\nread-only\noffline-without-bridge\n",
                "\(result.stdout)\(result.stderr)")
        }
    }

    @Test func policyChangesReachARunningSession() async throws {
        try await withOrigin { fixture, origin in
            let process = try fixture.start(["run", "--agent", "shell", "--", "sleep", "300"])
            defer { process.terminate() }
            let container = try await sessionContainer(fixture)
            // Running, not only created: `docker exec` into a container that is still starting prints nothing.
            let session = try #require(try await fixture.runningSessionID())
            let url = "http://late.test:\(origin.port)/hello.txt"
            // Listed is not yet running: exec fails until the container has started, so ask until it answers.
            let deniedBefore = try await fixture.waitUntil(timeout: 15) {
                try await inside(fixture, container, "curl -s -o /dev/null -w '%{http_code}' \(url)").stdout == "403"
            }
            #expect(deniedBefore, "late.test is denied before the allow")

            let allow = try await fixture.paddock(["allow", "--session", session, "late.test:\(origin.port)"])
            #expect(allow.status == 0, "\(allow.stderr)")
            let opened = try await fixture.waitUntil(timeout: 15) {
                try await inside(fixture, container, "curl -s \(url)").stdout == "hello from origin\n"
            }
            #expect(opened, "an allow reaches the running session without a restart")

            let deny = try await fixture.paddock(["deny", "--global", "late.test"])
            #expect(deny.status == 0, "\(deny.stderr)")
            let closed = try await fixture.waitUntil(timeout: 15) {
                try await inside(fixture, container, "curl -s -o /dev/null -w '%{http_code}' \(url)").stdout == "403"
            }
            #expect(closed, "deny wins, live")

            let check = try await fixture.paddock(["policy", "check", "--session", session, "late.test:\(origin.port)"])
            #expect(check.status == 1)
            #expect(check.stdout.contains("deny"), "\(check.stdout)")
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    @Test func killingTheLauncherLeavesTheSandboxWithNoWayOut() async throws {
        try await withOrphanLock {
            try await withOrigin { fixture, origin in
                let process = try fixture.start(["run", "--agent", "shell", "--", "sleep", "300"])
                let container = try await sessionContainer(fixture)
                let url = "http://origin.test:\(origin.port)/hello.txt"
                let reached = try await fixture.waitUntil(timeout: 10) {
                    try await inside(fixture, container, "curl -s \(url)").stdout == "hello from origin\n"
                }
                #expect(reached)
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                let after = try await inside(
                    fixture, container, "curl -s --max-time 5 \(url) && echo OUT || echo offline")
                #expect(after.stdout.hasSuffix("offline\n"), "\(after.stdout)")
                _ = try await fixture.paddock(["clean"])
            }
        }
    }

    /// A state folder too deep for a unix socket path: the socket moves to a fresh private folder in /tmp, works,
    /// and is gone with the session.
    @Test func aDeepStateFolderStillGivesAWorkingGateway() async throws {
        try await withOrigin { fixture, origin in
            let deep = fixture.root + "/" + String(repeating: "deep-state-folder/", count: 4)
            try await fixture.write("", to: deep + "keep")
            let before = Set(try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()))
            let result = try await fixture.paddock(
                ["run", "--agent", "shell", "--", "sh", "-c", "curl -s http://origin.test:\(origin.port)/hello.txt"],
                environment: ["XDG_STATE_HOME": deep])
            #expect(result.stdout == "hello from origin\n", "\(result.stderr)")
            let after = Set(try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()))
            #expect(
                after.subtracting(before).filter { $0.hasPrefix("paddock-") && !$0.hasPrefix("paddock-it") }.isEmpty)
        }
    }

    @Test func offlineMeansNoGatewayAtAll() async throws {
        try await withOrigin { fixture, origin in
            let script =
                "test -e /run/paddock/gateway.sock && echo SOCKET; echo proxy=${HTTP_PROXY:-none}; curl -s --max-time 5 http://origin.test:\(origin.port)/ && echo OUT || echo offline"
            let result = try await fixture.paddock(["run", "--offline", "--agent", "shell", "--", "sh", "-c", script])
            #expect(result.stdout == "proxy=none\noffline\n", "\(result.stdout)\(result.stderr)")
        }
    }
}

extension GatewayIntegrationTests {
    /// The agent edits paddock.toml during the session (so the project file is no longer trusted); the user's
    /// denies, for the session and globally, must still reach the session at once, and the agent's widening not.
    @Test func theUsersDenyReachesASessionWhoseProjectFileTheAgentEdited() async throws {
        try await withOrigin { fixture, origin in
            try await fixture.write("[network]\nallow = []\n", to: fixture.project + "/paddock.toml")
            #expect(try await fixture.paddock(["trust"]).status == 0)
            let process = try fixture.start(["run", "--agent", "shell", "--", "sleep", "300"])
            defer { process.terminate() }
            let container = try await sessionContainer(fixture)
            let session = try #require(try await fixture.runningSessionID())
            func status(_ host: String) async throws -> String {
                try await inside(
                    fixture, container, "curl -s -o /dev/null -w '%{http_code}' http://\(host):\(origin.port)/hello.txt"
                ).stdout
            }
            #expect(try await status("origin.test") == "200")
            let allow = try await fixture.paddock(["allow", "--session", session, "late.test:\(origin.port)"])
            #expect(allow.status == 0, "\(allow.stderr)")
            #expect(try await fixture.waitUntil(timeout: 5) { try await status("late.test") == "200" })

            let edit = try await inside(
                fixture, container,
                "printf '[network]\\nallow = [\"denied.test:\(origin.port)\"]\\n' > /workspace/paddock.toml && echo EDITED"
            )
            #expect(edit.stdout == "EDITED\n", "\(edit.stderr)")
            try await Task.sleep(for: .seconds(2))
            #expect(try await status("denied.test") == "403", "the agent's widening is held back")

            let deny = try await fixture.paddock(["deny", "--session", session, "late.test"])
            #expect(deny.status == 0, "\(deny.stderr)")
            #expect(
                try await fixture.waitUntil(timeout: 5) { try await status("late.test") == "403" },
                "the user's session deny reaches the session")

            let global = try await fixture.paddock(["deny", "--global", "origin.test"])
            #expect(global.status == 0, "\(global.stderr)")
            #expect(
                try await fixture.waitUntil(timeout: 5) { try await status("origin.test") == "403" },
                "the user's global deny reaches the session")
            #expect(try await status("denied.test") == "403", "still held back")
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }
}
