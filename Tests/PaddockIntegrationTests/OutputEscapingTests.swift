import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The characters that must never reach the user's terminal raw from paddock's own output: C0 controls but line
/// breaks and tabs, DEL, C1 controls and the bidi controls that reorder what the user reads.
func rawControls(in text: String) -> [String] {
    text.unicodeScalars.filter { scalar in
        let value = scalar.value
        return (value < 0x20 && value != 0x0A && value != 0x09) || (0x7F...0x9F).contains(value)
            || [0x061C, 0x200E, 0x200F].contains(value) || (0x2028...0x202E).contains(value)
            || (0x2066...0x2069).contains(value)
    }.map { String(format: "U+%04X", $0.value) }
}

/// paddock's own output after a session: names the agent chose (refs, paths, request targets, file contents)
/// must not drive the user's terminal. Each script plants an OSC that sets the window title, one that writes the
/// clipboard (OSC 52) and a clear-screen.
@Suite("paddock's output carries nothing the agent planted raw", .serialized, .tags(.engine))
struct OutputEscapingTests {
    static let commit = "git -c user.email=agent@paddock -c user.name=agent commit -q"

    func expectNoControls(_ output: ProcessOutput, _ what: String) {
        #expect(rawControls(in: output.stdout).isEmpty, "\(what) stdout: \(output.stdout.debugDescription)")
        #expect(rawControls(in: output.stderr).isEmpty, "\(what) stderr: \(output.stderr.debugDescription)")
    }

    /// Clone mode: a side ref whose name holds escape sequences ("Commits off the session branch"), an untracked
    /// file whose name and content hold them; then `ps --all`, `diff`, `clean --dry-run` and `clean`.
    @Test(arguments: [TestEngine.docker, .bwrap]) func cloneReportsAndListingsEscapeTheAgentsNames(engine: TestEngine)
        async throws
    {
        try await withOrphanLock {
            try await IntegrationFixture.with(engine: engine) { fixture in
                let script = """
                    \(Self.commit) --allow-empty -m side
                    side=$(git rev-parse HEAD)
                    git reset -q --hard HEAD~1
                    printf '%s\\n' "$side" > ".git/refs/heads/$(printf 'side\\033]0;pwned\\007\\033[2J')"
                    printf 'a\\033]52;c;cHduZWQ=\\007\\n' > "$(printf 'file\\033[2J')"
                    """
                let run = try await fixture.paddock([
                    "run", "--isolate", "clone", "--agent", "shell", "--", "sh", "-c", script,
                ])
                #expect(run.status == 0, "\(run.stderr)")
                expectNoControls(run, "run")
                #expect(run.stderr.contains(#"side\033]0;pwned\a\033[2J"#), "the ref is still named: \(run.stderr)")

                let listing = try await fixture.paddock(["ps", "--all", "--json"])
                let rows =
                    try JSONSerialization.jsonObject(with: Data(listing.stdout.utf8)) as? [[String: String]] ?? []
                let id = try #require(
                    rows.first { $0["state"]?.hasPrefix("clone:") == true }?["session"], "\(listing.stdout)")
                expectNoControls(try await fixture.paddock(["ps", "--all"]), "ps --all")
                let diff = try await fixture.paddock(["diff", id])
                #expect(diff.status == 0, "\(diff.stderr)")
                expectNoControls(diff, "diff")
                #expect(diff.stdout.contains(#"+a\033]52;c;cHduZWQ=\a"#), "the content is still shown: \(diff.stdout)")
                expectNoControls(try await fixture.paddock(["clean", "--dry-run"]), "clean --dry-run")
                expectNoControls(try await fixture.paddock(["clean"]), "clean")
                _ = try await fixture.paddock(["clean", "--force"])
            }
        }
    }

    /// Mount mode: a nested repository in a folder whose name holds escape sequences, in the quarantine report.
    @Test func theQuarantineReportEscapesThePathsTheAgentChose() async throws {
        try await IntegrationFixture.with { fixture in
            let script = "git init -q \"$(printf 'nest\\033]0;pwned\\007\\033[2J')\" && echo PLANTED"
            let run = try await fixture.paddock(["run", "--agent", "shell", "--", "sh", "-c", script])
            #expect(run.stdout == "PLANTED\n", "\(run.stderr)")
            #expect(run.stderr.contains("uarantined"), "the planted repository is reported: \(run.stderr)")
            expectNoControls(run, "run")
        }
    }

    /// The gateway logs a request it cannot read with what the client sent: a SOCKS5 "host" holding a bidi
    /// override (U+202E), which would reorder the line the user reads in `net log`.
    @Test func netLogEscapesWhatTheAgentSentTheGateway() async throws {
        try await IntegrationFixture.with { fixture in
            // Greeting (no authentication), then CONNECT to the 5-byte domain "a", U+202E, "b", port 80.
            let script =
                #"printf '\005\001\000\005\001\000\003\005a\342\200\256b\000\120' | socat -t 2 - TCP:127.0.0.1:3128 >/dev/null; echo sent"#
            let run = try await fixture.paddock(["run", "--agent", "shell", "--", "bash", "-c", script])
            #expect(run.stdout == "sent\n", "\(run.stderr)")
            let json = try await fixture.paddock(["net", "log", "--json"])
            let hosts = json.stdout.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["host"] as? String
            }
            #expect(hosts.contains { $0.contains("\u{202E}") }, "the attack reached the log: \(json.stdout)")
            expectNoControls(json, "net log --json")
            expectNoControls(try await fixture.paddock(["net", "log"]), "net log")
        }
    }

    /// The project file the agent wrote is shown as a diff for review: its escape sequences and bidi overrides
    /// must be shown, not obeyed.
    @Test func theTrustDiffShowsTheAgentsBytesEscaped() async throws {
        try await IntegrationFixture.with { fixture in
            try await fixture.write(
                "# \u{1B}]0;pwned\u{07}\u{1B}[2J\nenv = [\"X\"] # \u{202E}\"Y\" = vne\n",
                to: fixture.project + "/paddock.toml")
            let run = try await fixture.paddock(["run", "--agent", "shell", "--", "true"])
            #expect(run.status == 77, "\(run.stderr)")
            expectNoControls(run, "the trust diff")
            #expect(run.stderr.contains(#"\033]0;pwned\a\033[2J"#), "\(run.stderr)")
        }
    }
}
