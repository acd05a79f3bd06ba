import Foundation

/// The configuration in force for one invocation, and where each layer came from.
public struct LoadedConfig: Equatable, Sendable {
    public var effective: PaddockConfig
    public var globalFile: String
    public var projectFile: String
    /// Whether a project file exists (it was applied only if trusted).
    public var projectFileExists: Bool

    public init(effective: PaddockConfig, globalFile: String, projectFile: String, projectFileExists: Bool) {
        self.effective = effective
        self.globalFile = globalFile
        self.projectFile = projectFile
        self.projectFileExists = projectFileExists
    }
}

/// Global file, then the trusted project file, then flags: later layers override, lists merge.
public struct ConfigLoader: Sendable {
    public var paths: PaddockPaths
    public var trust: TrustStore

    public init(paths: PaddockPaths) {
        self.paths = paths
        self.trust = TrustStore(directory: paths.trustDirectory)
    }

    public func projectFile(forProject root: String) -> String {
        root + "/" + ProjectLocator.projectFileName
    }

    /// Reads and parses one file; a missing file is an empty layer.
    public static func layer(at path: String) throws -> (config: PaddockConfig, text: String)? {
        guard let text = try text(at: path) else { return nil }
        return (try ConfigParser.parse(text, file: path), text)
    }

    static func text(at path: String) throws -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PaddockError.fileSystem(path: path, message: "cannot read the file (\(error)); check its permissions")
        }
    }

    /// Throws `untrustedProjectConfig` when the project file is not trusted in its current form.
    public func load(projectRoot: String, flags: PaddockConfig) throws -> LoadedConfig {
        var effective = PaddockConfig()
        if let global = try Self.layer(at: paths.globalConfigFile) {
            effective = global.config.merged(over: effective)
        }
        let projectPath = projectFile(forProject: projectRoot)
        let projectText = try Self.text(at: projectPath)
        if let projectText {
            // Trust is decided before parsing: an edited file is shown as a diff to review, whatever it says.
            switch try trust.status(file: projectPath, content: projectText) {
            case .trusted:
                effective = try ConfigParser.parse(projectText, file: projectPath).merged(over: effective)
            case .neverTrusted(let diff), .changed(let diff):
                throw PaddockError.untrustedProjectConfig(file: projectPath, diff: diff)
            }
        }
        effective = flags.merged(over: effective)
        return LoadedConfig(
            effective: effective, globalFile: paths.globalConfigFile, projectFile: projectPath,
            projectFileExists: projectText != nil)
    }
}
