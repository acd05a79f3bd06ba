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
        switch try attempt(projectRoot: projectRoot, flags: flags) {
        case .loaded(let loaded): return loaded
        case .untrusted(let review): throw PaddockError.untrustedProjectConfig(file: review.file, diff: review.diff)
        }
    }

    enum Attempt {
        case loaded(LoadedConfig)
        case untrusted(TrustReview)
    }

    /// One read of each file: the project file's trust is decided on the bytes read, and those same bytes are
    /// parsed, so nothing the agent writes in between can be applied.
    func attempt(projectRoot: String, flags: PaddockConfig) throws -> Attempt {
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
                let project = try ConfigParser.parse(projectText, file: projectPath)
                // A project file is the agent's to propose: a credential rule there could send a host secret to a
                // host the agent controls, and a review of the diff is too easy to wave through for that.
                guard project.network.credentials.isEmpty else {
                    throw PaddockError.invalidConfig(
                        file: projectPath, line: nil, column: nil,
                        message:
                            "[[network.credentials]] is read only from your global config (\(paths.globalConfigFile)) or flags, never from a project's paddock.toml: move the rule there"
                    )
                }
                effective = project.merged(over: effective)
            case .neverTrusted(let diff), .changed(let diff):
                return .untrusted(TrustReview(file: projectPath, content: projectText, diff: diff))
            }
        }
        effective = flags.merged(over: effective)
        return .loaded(
            LoadedConfig(
                effective: effective, globalFile: paths.globalConfigFile, projectFile: projectPath,
                projectFileExists: projectText != nil))
    }
}

/// An untrusted project file as put to the user for approval.
public struct TrustReview: Equatable, Sendable {
    public var file: String
    /// The bytes read, from which `diff` was made: what the user approves.
    public var content: String
    /// Against the version last trusted (or an empty file).
    public var diff: String
    /// The user approved a version already, and the file changed again before it could be applied.
    public var changedSinceApproval = false

    public var sha256: String { Hashing.sha256Hex(content) }
}

extension ConfigLoader {
    /// `load`, except that an untrusted project file is first put to `approve` (the interactive prompt, which
    /// waits for the user: whatever the agent does to the file meanwhile happens inside that call). An approval
    /// trusts exactly the bytes shown; the file is then read again and applied only if it still holds them,
    /// otherwise its new form is shown for approval in turn. Bytes nobody saw are never trusted.
    public func load(projectRoot: String, flags: PaddockConfig, approve: (TrustReview) throws -> Bool) throws
        -> LoadedConfig
    {
        var approvedOne = false
        while true {
            switch try attempt(projectRoot: projectRoot, flags: flags) {
            case .loaded(let loaded):
                return loaded
            case .untrusted(var review):
                review.changedSinceApproval = approvedOne
                guard try approve(review) else {
                    throw PaddockError.untrustedProjectConfig(file: review.file, diff: review.diff)
                }
                try trust.trust(file: review.file, content: review.content)
                approvedOne = true
            }
        }
    }
}
