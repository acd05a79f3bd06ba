import Foundation
import PaddockCore
import PaddockEngine

/// Makes sure the image for a recipe exists, building only when its content hash is not already there.
public struct ImageBuilder: Sendable {
    public var context: AppContext

    public init(context: AppContext) { self.context = context }

    public enum Outcome: Equatable {
        case upToDate
        case built
    }

    public func recipe(for config: PaddockConfig, profile: AgentProfile) throws -> ImageRecipe {
        let user = context.sandboxUser
        return try ImageRecipe.render(
            base: config.image.base, extraPackages: config.image.packages, profile: profile, uid: user.uid,
            gid: user.gid, files: SandboxFiles.all, artifact: artifact(for: config))
    }

    /// The agent file the configuration names, with its checksum; nil when the agent comes from its installer.
    public func artifact(for config: PaddockConfig) throws -> AgentArtifact? {
        let named: (String, AgentArtifact.Kind)? =
            config.image.agentBinary.map { ($0, .binary) } ?? config.image.agentArchive.map { ($0, .archive) }
        guard let (written, kind) = named else { return nil }
        let path = MountPolicy.resolve(written, home: context.paths.home, relativeTo: context.projectRoot)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw PaddockError.invalidArgument(
                "image.agent_\(kind.rawValue) names \(written), which is not a file here (resolved to \(path)). Point it at the agent's \(kind == .binary ? "executable" : "archive"), or remove the setting to install the agent with its installer."
            )
        }
        return AgentArtifact(kind: kind, hostPath: path, sha256: try AgentArtifact.sha256(ofFile: path))
    }

    @discardableResult
    public func ensure(_ recipe: ImageRecipe, force: Bool = false, noCache: Bool = false, pull: Bool = false)
        async throws -> Outcome
    {
        if !force,
            try await context.engine.imageLabel(recipe.tag, label: ImageRecipe.contextLabel) == recipe.contextHash
        {
            context.logger.debug("image up to date", metadata: ["tag": "\(recipe.tag)"])
            return .upToDate
        }
        try await build(recipe, noCache: noCache, pull: pull)
        return .built
    }

    private func build(_ recipe: ImageRecipe, noCache: Bool, pull: Bool) async throws {
        let directory = context.paths.buildDirectory + "/" + recipe.contextHash
        let logPath = context.paths.logsDirectory + "/build-\(recipe.contextHash.prefix(16)).log"
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try fileManager.createDirectory(atPath: context.paths.logsDirectory, withIntermediateDirectories: true)
            try recipe.dockerfile.write(toFile: directory + "/Dockerfile", atomically: true, encoding: .utf8)
            for (path, content) in recipe.files {
                let full = directory + "/" + path
                try fileManager.createDirectory(
                    atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try content.write(toFile: full, atomically: true, encoding: .utf8)
            }
            _ = fileManager.createFile(atPath: logPath, contents: nil)
        } catch {
            throw PaddockError.fileSystem(path: directory, message: "cannot prepare the image build: \(error)")
        }
        if let artifact = recipe.artifact { try copy(artifact, into: directory) }
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw PaddockError.fileSystem(path: logPath, message: "cannot write the build log")
        }
        defer { try? log.close() }
        let tail = LineTail(limit: 25)
        let showProgress = context.stderrIsTerminal
        let terminal = context.terminal
        context.say("paddock: building the sandbox image \(recipe.tag) (log: \(logPath))")
        let request = ImageBuildRequest(
            contextDirectory: directory, tag: recipe.tag,
            labels: recipe.labels,
            noCache: noCache, pull: pull)
        do {
            try await context.engine.buildImage(request) { line in
                log.write(Data((line + "\n").utf8))
                tail.append(line)
                if let step = BuildProgress.step(in: line) {
                    let text = "paddock: " + SafeText.line(step)
                    if showProgress {
                        terminal.progress(String(text.prefix(100)))
                    } else {
                        terminal.say(String(text.prefix(160)), terminator: "\n")
                    }
                }
            }
            if showProgress { terminal.progress("") }
        } catch {
            if showProgress { terminal.say("", terminator: "\n") }
            throw PaddockError.imageBuildFailed(log: logPath, tail: tail.lines.joined(separator: "\n"))
        }
        context.say("paddock: image \(recipe.tag) ready")
    }
}

extension ImageBuilder {
    /// Copies the agent's file into the context and checks the copy, not the original, against the checksum the
    /// recipe was named by: a file changed in between fails the build instead of entering an image under the
    /// wrong label.
    public func copy(_ artifact: AgentArtifact, into directory: String) throws {
        let target = directory + "/" + artifact.contextPath
        let fileManager = FileManager.default
        do {
            try fileManager.createDirectory(
                atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try? fileManager.removeItem(atPath: target)
            try fileManager.copyItem(atPath: artifact.hostPath, toPath: target)
            try fileManager.setAttributes([.posixPermissions: 0o755], ofItemAtPath: target)
        } catch {
            throw PaddockError.fileSystem(
                path: artifact.hostPath, message: "cannot copy the agent into the image build: \(error)")
        }
        let copied = try AgentArtifact.sha256(ofFile: target)
        guard copied == artifact.sha256 else {
            throw PaddockError.fileSystem(
                path: artifact.hostPath,
                message:
                    "changed while paddock read it (SHA-256 \(artifact.sha256) before, \(copied) now); run paddock again once it is complete"
            )
        }
    }
}

/// The last lines of output, kept for an error message.
public final class LineTail: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer: [String] = []
    private let limit: Int

    public init(limit: Int) { self.limit = limit }

    public func append(_ line: String) {
        lock.withLock {
            buffer.append(line)
            if buffer.count > limit { buffer.removeFirst(buffer.count - limit) }
        }
    }

    public var lines: [String] { lock.withLock { buffer } }
}
