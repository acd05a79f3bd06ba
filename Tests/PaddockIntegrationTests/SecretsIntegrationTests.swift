import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

/// A real session with a credential rule: the vendor origin of the test's own (HTTPS on a loopback address, its CA
/// trusted by the launcher's gateway through `PADDOCK_TEST_UPSTREAM_CA_FILE`) gets the real secret; the sandbox
/// holds a placeholder and nowhere — environment, any process's environ or argv, the filesystem, the home volume —
/// the secret's bytes, nor the session CA's private key.
@Suite("Secrets stay outside the sandbox", .serialized, .tags(.engine))
struct SecretsIntegrationTests {
    /// With every transport: the relay's volume and a bound socket file carry no files, so the session CA comes
    /// in a folder of its own (the review found HTTPS broken through the relay before).
    @Test(arguments: ["folder", "relay", "socket-file"])
    func theSandboxHoldsOnlyThePlaceholderAndTheOriginGetsTheSecret(transport: String) async throws {
        try await IntegrationFixture.with(engine: .docker) { fixture in
            let origin = try await VendorOrigin.startOrSkip(directory: fixture.root + "/vendor")
            defer { origin.stop() }
            let secret = "sk-ant-paddock-\(fixture.id)-\(UUID().uuidString.lowercased())"
            try await fixture.write(
                """
                engine = "docker"
                env = ["PADDOCK_TEST_SECRET"]
                [image]
                base = "\(IntegrationEnvironment.baseImage)"
                [network]
                allow = ["api.anthropic.com", "\(origin.address)/32"]
                [[network.credentials]]
                host = "api.anthropic.com"
                header = "x-api-key"
                env = "PADDOCK_TEST_SECRET"
                [network.hosts]
                "api.anthropic.com" = "\(origin.address)"

                """, to: fixture.home + "/.config/paddock/config.toml")
            // A pattern for the secret that is not the secret: the script carries no copy of it in its own argv.
            let pattern = String(secret.dropLast()) + "[" + String(secret.suffix(1)) + "]"
            let script = """
                echo "var:$PADDOCK_TEST_SECRET"
                curl -sS -X POST https://api.anthropic.com/v1/messages -H "x-api-key: $PADDOCK_TEST_SECRET" \\
                  -H 'content-type: application/json' \\
                  -d '{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' \\
                  -o /dev/null -w 'api:%{http_code}\\n'
                echo "$PADDOCK_TEST_SECRET" > "$HOME/placeholder-in-home"
                env | grep -E '\(pattern)' && echo LEAK-ENV
                for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do
                  tr '\\0' '\\n' < "$f" 2>/dev/null | grep -qE '\(pattern)' && echo "LEAK-PROC $f"
                done
                grep -rlsE '\(pattern)' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev | sed 's/^/LEAK-FILE /'
                grep -rlsE 'PRIVATE KEY' /run/paddock /etc/paddock /tmp "$HOME" /workspace | sed 's/^/KEY-FILE /'
                ls /etc/paddock/trust | sort | tr '\\n' ' '; echo
                echo end
                """
            let result = try await fixture.paddock(
                ["run", "--agent", "shell", "--gateway-transport", transport, "--", "bash", "-c", script],
                environment: ["PADDOCK_TEST_SECRET": secret, "PADDOCK_TEST_UPSTREAM_CA_FILE": origin.caFile])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("var:paddock-placeholder-") == true, "\(result.stdout)")
            #expect(lines.dropFirst().first == "api:200", "\(result.stdout)\n\(result.stderr)")
            #expect(!lines.contains { $0.hasPrefix("LEAK") || $0.hasPrefix("KEY-FILE") }, "\(result.stdout)")
            #expect(lines.contains("ca-bundle.pem paddock-ca.pem "), "\(result.stdout)")
            #expect(lines.last == "end", "\(result.stdout)")
            #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret))

            // The origin got the real value, in the header the rule names.
            let api = origin.requests().filter { $0["path"] == "/v1/messages" }
            #expect(api.count == 1 && api.first?["credential"] == secret, "\(origin.requests())")

            // The log says a credential was added, and holds neither the secret nor the placeholder.
            let log = try await fixture.paddock(["net", "log", "--json"])
            #expect(log.stdout.contains("\"credential\":true"), "\(log.stdout)")
            #expect(!log.stdout.contains(secret) && !log.stdout.contains("paddock-placeholder-"))
            let human = try await fixture.paddock(["net", "log"])
            #expect(human.stdout.contains("POST /v1/messages  200  +credential"), "\(human.stdout)")

            // Nothing the launcher left on the host holds the CA's key or the secret either.
            let state = try await fixture.shell(
                "grep -rlsE 'PRIVATE KEY|\(pattern)' \(fixture.paths.stateDirectory) || true", in: fixture.root)
            #expect(state.stdout.isEmpty, "\(state.stdout)")
        }
    }

    @Test func aMissingSecretStopsTheSessionBeforeItStarts() async throws {
        try await IntegrationFixture.with(engine: .docker) { fixture in
            try await fixture.write(
                """
                engine = "docker"
                [image]
                base = "\(IntegrationEnvironment.baseImage)"
                [[network.credentials]]
                host = "api.github.com"
                header = "authorization"
                scheme = "Bearer"
                env = "PADDOCK_TEST_UNSET_TOKEN"

                """, to: fixture.home + "/.config/paddock/config.toml")
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(result.status != 0)
            #expect(result.stderr.contains("PADDOCK_TEST_UNSET_TOKEN, which is not set"), "\(result.stderr)")
            #expect(try await fixture.containers().isEmpty)
        }
    }
}
