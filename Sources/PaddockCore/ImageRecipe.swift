import Foundation

/// The sandbox image as a value: the rendered Dockerfile and the files beside it. Its content hash names the
/// image, so a build happens only when something that goes into it changed.
public struct ImageRecipe: Equatable, Sendable {
    public static let defaultBase = "debian:bookworm-slim"
    public static let basePackages = [
        "bash", "ca-certificates", "curl", "git", "jq", "less", "openssh-client", "procps", "ripgrep", "socat",
    ]
    public static let home = "/home/agent"
    public static let workspace = "/workspace"
    /// The label carrying the SHA-256 of the build context.
    public static let contextLabel = "paddock.context-sha256"
    public static let agentLabel = "paddock.agent"

    public var dockerfile: String
    /// Extra files of the build context, by relative path.
    public var files: [String: String]
    public var agent: String
    /// The agent's own file, when it is installed from one (see `AgentArtifact`).
    public var artifact: AgentArtifact? = nil

    /// SHA-256 over every file of the context, in a fixed order.
    public var contextHash: String {
        var hashed = "Dockerfile\u{0}\(dockerfile)\u{0}"
        for path in files.keys.sorted() { hashed += "\(path)\u{0}\(files[path] ?? "")\u{0}" }
        if let artifact { hashed += "\(artifact.contextPath)\u{0}sha256:\(artifact.sha256)\u{0}" }
        return Hashing.sha256Hex(hashed)
    }

    /// `paddock-claude:1a2b3c4d5e6f7a8b`; the full hash is in the label.
    public var tag: String { "paddock-\(agent):\(contextHash.prefix(16))" }

    /// The labels the built image carries: what makes it up-to-date, and where its agent came from.
    public var labels: [String: String] {
        var labels = [Self.contextLabel: contextHash, Self.agentLabel: agent]
        if let artifact { labels[AgentArtifact.label] = artifact.sha256 }
        return labels
    }

    public static func render(
        base: String?, extraPackages: [String], profile: AgentProfile, uid: UInt32, gid: UInt32,
        files: [String: String] = [:], artifact: AgentArtifact? = nil
    ) throws -> ImageRecipe {
        let base = base ?? defaultBase
        guard isValidImageReference(base) else {
            throw PaddockError.invalidArgument(
                "image.base \"\(base)\" is not an image reference such as debian:bookworm-slim.")
        }
        for package in extraPackages where !isValidPackageName(package) {
            throw PaddockError.invalidArgument(
                "image.packages lists \"\(package)\", which is not a Debian package name (letters, digits, + - . and an optional =version)."
            )
        }
        if artifact != nil, !profile.installsFromExecutable {
            throw PaddockError.invalidArgument(
                "The \(profile.name) agent cannot be installed from a file (image.agent_binary / image.agent_archive): its CLI is not a single executable. Remove the setting, or use it with claude or codex."
            )
        }
        let files = files.merging(profile.imageFiles) { own, _ in own }
        let packages = (basePackages + (artifact == nil ? profile.packages : [])).mergedUnique(extraPackages)
        var lines: [String] = []
        lines.append("# Rendered by paddock \(PaddockVersion.current); edit paddock.toml, not this file.")
        lines.append("FROM \(base)")
        lines.append("ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8")
        lines.append(
            "RUN apt-get update \\\n && apt-get install -y --no-install-recommends \\\n    "
                + packages.joined(separator: " ") + " \\\n && rm -rf /var/lib/apt/lists/*")
        if let artifact, let executable = profile.command.first {
            lines += artifact.dockerfileLines(executable: executable)
        } else {
            for step in profile.installSteps {
                lines.append("RUN \(step)")
            }
        }
        for (path, _) in files.sorted(by: { $0.key < $1.key }) {
            lines.append("COPY \(path) /\(path)")
        }
        // The host's uid and gid, so workspace files keep their owner. A gid already taken in the image
        // (macOS's 20 is Debian's dialout) is reused rather than renamed.
        let homeDirectories = ([""] + profile.homeDirectories).map { ($0.isEmpty ? home : "\(home)/\($0)") }
        lines.append(
            """
            RUN if ! getent group \(gid) >/dev/null; then groupadd --gid \(gid) agent; fi \\
             && useradd --uid \(uid) --gid \(gid) --non-unique --no-create-home --home-dir \(home) --shell /bin/bash agent \\
             && mkdir -p \(workspace) \(homeDirectories.joined(separator: " ")) \\
             && chown \(uid):\(gid) \(workspace) \(homeDirectories.joined(separator: " "))
            """)
        var environment = ["HOME": home, "USER": "agent"]
        for (name, value) in profile.environment { environment[name] = value }
        let envLine = environment.keys.sorted().map { "\($0)=\((environment[$0] ?? "").doubleQuoted)" }
        lines.append("ENV " + envLine.joined(separator: " "))
        lines.append("USER \(uid):\(gid)")
        lines.append("WORKDIR \(workspace)")
        return ImageRecipe(
            dockerfile: lines.joined(separator: "\n") + "\n", files: files, agent: profile.name, artifact: artifact)
    }

    /// The sandbox runs as the host user, except that root on the host becomes an ordinary uid inside:
    /// agents refuse their skip-permissions mode as root, and root inside gains nothing we want to give.
    public static func sandboxUser(hostUID: UInt32, hostGID: UInt32) -> SandboxUser {
        hostUID == 0 ? SandboxUser(uid: 1000, gid: 1000) : SandboxUser(uid: hostUID, gid: hostGID == 0 ? 1000 : hostGID)
    }

    static func isValidPackageName(_ name: String) -> Bool {
        let parts = name.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard let first = parts.first, first.count >= 2,
            first.first.map({ $0.isLowercase || $0.isASCIIDigit }) == true,
            first.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isASCIIDigit || "+-.".contains($0)) })
        else { return false }
        if parts.count == 2 {
            return !parts[1].isEmpty
                && parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isASCIIDigit || "+-.:~".contains($0)) }
        }
        return true
    }

    static func isValidImageReference(_ reference: String) -> Bool {
        guard !reference.isEmpty, !reference.hasPrefix("-"), reference.count <= 255 else { return false }
        return reference.allSatisfy { $0.isASCII && ($0.isLetter || $0.isASCIIDigit || "._-/:@".contains($0)) }
    }
}
