import Foundation
import PaddockCore
import PaddockEngine

/// Makes sure the image for a recipe exists, building only when its content hash is not already there.
struct ImageBuilder {
    var context: AppContext

    enum Outcome: Equatable {
        case upToDate
        case built
    }

    func recipe(for config: PaddockConfig, profile: AgentProfile) throws -> ImageRecipe {
        let user = ImageRecipe.sandboxUser(hostUID: context.hostUID, hostGID: context.hostGID)
        return try ImageRecipe.render(
            base: config.image.base, extraPackages: config.image.packages, profile: profile, uid: user.uid,
            gid: user.gid, files: SandboxFiles.all)
    }

    @discardableResult
    func ensure(_ recipe: ImageRecipe, force: Bool = false, noCache: Bool = false, pull: Bool = false) async throws -> Outcome {
        if !force, try await context.engine.imageLabel(recipe.tag, label: ImageRecipe.contextLabel) == recipe.contextHash {
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
        guard let log = FileHandle(forWritingAtPath: logPath) else {
            throw PaddockError.fileSystem(path: logPath, message: "cannot write the build log")
        }
        defer { try? log.close() }
        let tail = LineTail(limit: 25)
        let showProgress = context.stderrIsTerminal
        context.say("paddock: building the sandbox image \(recipe.tag) (log: \(logPath))")
        let request = ImageBuildRequest(
            contextDirectory: directory, tag: recipe.tag,
            labels: [ImageRecipe.contextLabel: recipe.contextHash, ImageRecipe.agentLabel: recipe.agent],
            noCache: noCache, pull: pull)
        do {
            try await context.engine.buildImage(request) { line in
                log.write(Data((line + "\n").utf8))
                tail.append(line)
                if let step = BuildProgress.step(in: line) {
                    let text = "paddock: " + SafeText.line(step)
                    if showProgress {
                        Console.progress(String(text.prefix(100)))
                    } else {
                        Console.say(String(text.prefix(160)))
                    }
                }
            }
            if showProgress { Console.progress("") }
        } catch {
            if showProgress { Console.say("") }
            throw PaddockError.imageBuildFailed(log: logPath, tail: tail.lines.joined(separator: "\n"))
        }
        context.say("paddock: image \(recipe.tag) ready")
    }
}

/// The last lines of output, kept for an error message.
final class LineTail: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer: [String] = []
    private let limit: Int

    init(limit: Int) { self.limit = limit }

    func append(_ line: String) {
        lock.withLock {
            buffer.append(line)
            if buffer.count > limit { buffer.removeFirst(buffer.count - limit) }
        }
    }

    var lines: [String] { lock.withLock { buffer } }
}
