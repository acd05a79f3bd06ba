import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The real agent CLIs (pinned by scripts/test.sh from PyPI's wheels) in real sandboxes, through the gateway, against
/// a scripted vendor origin of the test's own on loopback. The agent is installed from the file
/// (`image.agent_binary`), and the gateway allows the vendor hosts only because the profile lists them: the
/// configuration adds nothing but the loopback address the names are mapped to.
@Suite("Real agents end to end", .serialized, .tags(.engine))
struct RealAgentTests {
    enum Agent: String {
        case claude
        case codex

        var variable: String { "PADDOCK_TEST_\(rawValue.uppercased())_BINARY" }
        var caVariable: String { self == .claude ? "NODE_EXTRA_CA_CERTS" : "SSL_CERT_FILE" }
        var credentials: [String: String] {
            self == .claude ? ["ANTHROPIC_API_KEY": "sk-ant-api03-paddock-test"] : ["OPENAI_API_KEY": "sk-paddock-test"]
        }
        var apiHost: String { self == .claude ? "api.anthropic.com" : "api.openai.com" }
    }

    /// The CLI scripts/test.sh fetched, copied once where the unprivileged test user can read it.
    static func binary(_ agent: Agent) throws -> String {
        guard let source = ProcessInfo.processInfo.environment[agent.variable], !source.isEmpty else {
            let problem = "\(agent.variable) is not set: scripts/test.sh downloads the real \(agent.rawValue) CLI and sets it"
            if IntegrationEnvironment.isCI {
                Issue.record("CI=true: \(problem)")
                throw PaddockError.other(problem)
            }
            try Test.cancel("Skipped: \(problem)")
        }
        let size = ((try FileManager.default.attributesOfItem(atPath: source)[.size]) as? NSNumber)?.intValue ?? 0
        let directory = "/tmp/paddock-test-agents"
        let target = "\(directory)/\(agent.rawValue)-\(size)"
        if !FileManager.default.fileExists(atPath: target) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let partial = target + ".partial-\(getpid())"
            try? FileManager.default.removeItem(atPath: partial)
            try FileManager.default.copyItem(atPath: source, toPath: partial)
            chmod(partial, 0o755)
            chmod(directory, 0o755)
            rename(partial, target)
        }
        return target
    }

    /// A fixture whose global config installs the real CLI and maps the vendor hosts to the origin.
    func withAgent(
        _ agent: Agent, hosts: [String]? = nil, extraConfig: String = "",
        _ body: (IntegrationFixture, VendorOrigin) async throws -> Void
    ) async throws {
        let binary = try Self.binary(agent)
        try await IntegrationFixture.with(engine: .docker) { fixture in
            let origin: VendorOrigin
            do {
                origin = try await VendorOrigin.start(directory: fixture.root + "/vendor")
            } catch {
                if IntegrationEnvironment.isCI { throw error }
                try Test.cancel("Skipped: \(error)")
            }
            defer { origin.stop() }
            let mapped = (hosts ?? VendorOrigin.hostNames).map { "\"\($0)\" = \"\(origin.address)\"" }
            try await fixture.write(
                """
                engine = "docker"
                agent = "\(agent.rawValue)"
                env = ["\(agent.caVariable)"]
                mounts = [{ path = "\(origin.directory)", target = "/mnt/paddock-test-ca" }]
                [image]
                base = "\(IntegrationEnvironment.baseImage)"
                agent_binary = "\(binary)"
                [network]
                allow = ["\(origin.address)/32"]
                \(extraConfig)
                [network.hosts]
                \(mapped.joined(separator: "\n"))

                """, to: fixture.home + "/.config/paddock/config.toml")
            try await body(fixture, origin)
        }
    }

    func environment(_ agent: Agent) -> [String: String] {
        agent.credentials.merging([agent.caVariable: "/mnt/paddock-test-ca/ca.pem"]) { $1 }
    }

    func netLog(_ fixture: IntegrationFixture) async throws -> [[String: Any]] {
        let log = try await fixture.paddock(["net", "log", "--json"])
        return log.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    /// Print mode: the scripted model asks for a shell command, Claude's Bash tool runs it in the sandbox, the file
    /// lands in the project with the host user as owner, and the gateway logged the API host as allowed.
    @Test func claudePrintModeRunsItsShellToolThroughTheGateway() async throws {
        try await withAgent(.claude) { fixture, origin in
            let prompt = "Please do this. PADDOCK-RUN: echo made-by-claude > /workspace/from-claude.txt"
            let result = try await fixture.paddock(
                ["run", "--", "-p", prompt, "--output-format", "json"], environment: environment(.claude))
            let replies = origin.requests().map { "\($0["host"] ?? "") \($0["path"] ?? "") \($0["reply"] ?? "")" }
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)\n\(replies)")
            #expect(result.stdout.contains("paddock-test: done"), "\(result.stdout)")
            let file = fixture.project + "/from-claude.txt"
            #expect((try? String(contentsOfFile: file, encoding: .utf8)) == "made-by-claude\n", "\(replies)")
            #expect(try fixture.ownerUID(of: file) == fixture.hostUID)
            #expect(replies.contains { $0.hasSuffix(" tool") } && replies.contains { $0.hasSuffix(" done") }, "\(replies)")
            let allowed = try await netLog(fixture).filter {
                $0["host"] as? String == "api.anthropic.com" && $0["decision"] as? String == "allow"
            }
            #expect(!allowed.isEmpty, "the gateway logged api.anthropic.com as allowed")
        }
    }
}
