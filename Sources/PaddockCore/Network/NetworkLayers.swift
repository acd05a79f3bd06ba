import Foundation

/// The layers of a session's `[network]` policy, each kept on its own: the global file, the project file in its
/// last trusted form, the session's own file (`paddock allow --session`) and the flags. Later layers override.
public struct NetworkLayers: Equatable, Sendable {
    public var global = NetworkConfig()
    public var project = NetworkConfig()
    public var session = NetworkConfig()
    public var flags = NetworkConfig()

    public init(flags: NetworkConfig = NetworkConfig()) {
        self.flags = flags
    }

    public var merged: NetworkConfig { flags.merged(over: session.merged(over: project.merged(over: global))) }
}

/// Where a session's network layers are read from. At start every layer must be readable and the project file
/// trusted. While the session runs each layer is re-read on its own: the agent can edit the project file, so an
/// untrusted or broken version of it keeps its last trusted one in force, and the user's own layers (global and
/// session files, written by `paddock allow` and `deny`) still apply at once. Only the agent's edit is held back.
public struct NetworkLayerFiles: Sendable {
    public var globalFile: String
    public var projectFile: String
    /// nil outside a session (`paddock policy show` without `--session`).
    public var sessionFile: String?
    public var trust: TrustStore
    public var flags: NetworkConfig

    public init(globalFile: String, projectFile: String, sessionFile: String?, trust: TrustStore, flags: NetworkConfig)
    {
        self.globalFile = globalFile
        self.projectFile = projectFile
        self.sessionFile = sessionFile
        self.trust = trust
        self.flags = flags
    }

    /// The files whose change may change the policy; the project file's trust record among them, so a
    /// `paddock trust` during the session applies at once.
    public var watchedFiles: [String] {
        [globalFile, projectFile, trust.recordPath(for: projectFile)] + (sessionFile.map { [$0] } ?? [])
    }

    /// Every layer as it is now; throws what `ConfigLoader.load` would (an untrusted project file, a broken one).
    public func read() throws -> NetworkLayers {
        var layers = NetworkLayers(flags: flags)
        layers.global = try Self.layer(globalFile).get()
        layers.project = try projectLayer().get()
        if let sessionFile { layers.session = try Self.layer(sessionFile).get() }
        return layers
    }

    /// Every layer re-read on its own. A layer that cannot be applied keeps its version from `previous`; the
    /// strings say which were held back and why.
    public func reload(_ previous: NetworkLayers) -> (layers: NetworkLayers, held: [String]) {
        var layers = previous
        layers.flags = flags
        var held: [String] = []
        func apply(
            _ result: Result<NetworkConfig, PaddockError>, _ keyPath: WritableKeyPath<NetworkLayers, NetworkConfig>,
            _ file: String
        ) {
            switch result {
            case .success(let config): layers[keyPath: keyPath] = config
            case .failure(let error):
                held.append(
                    "\(SafeText.quoted(file)) is not applied, its previous version stays in force: \(Self.summary(error))"
                )
            }
        }
        apply(Self.layer(globalFile), \.global, globalFile)
        apply(projectLayer(duringSession: true), \.project, projectFile)
        if let sessionFile { apply(Self.layer(sessionFile), \.session, sessionFile) }
        return (layers, held)
    }

    /// The project file's `[network]` table when its bytes are trusted. No file is no layer at start; during a
    /// session a file that disappeared keeps its last trusted version (deleting it would drop its denies).
    func projectLayer(duringSession: Bool = false) -> Result<NetworkConfig, PaddockError> {
        Result {
            guard let text = try ConfigLoader.text(at: projectFile) else {
                guard duringSession else { return NetworkConfig() }
                throw PaddockError.notFound("it is gone")
            }
            // Trust is decided on the bytes read, and those same bytes are parsed.
            switch try trust.status(file: projectFile, content: text) {
            case .trusted: break
            case .neverTrusted(let diff), .changed(let diff):
                throw PaddockError.untrustedProjectConfig(file: projectFile, diff: diff)
            }
            return try Self.validated(ConfigParser.parse(text, file: projectFile).network, file: projectFile)
        }.mapError(Self.paddockError)
    }

    static func layer(_ file: String) -> Result<NetworkConfig, PaddockError> {
        Result {
            guard let (config, _) = try ConfigLoader.layer(at: file) else { return NetworkConfig() }
            return try validated(config.network, file: file)
        }.mapError(paddockError)
    }

    /// A layer whose rules do not parse on their own is not applied, so it cannot break the other layers' policy.
    static func validated(_ network: NetworkConfig, file: String) throws -> NetworkConfig {
        do {
            _ = try NetworkPolicy(config: network)
        } catch {
            throw PaddockError.invalidConfig(file: file, line: nil, column: nil, message: "[network]: \(error)")
        }
        return network
    }

    static func paddockError(_ error: any Error) -> PaddockError {
        error as? PaddockError ?? .other("\(error)")
    }

    static func summary(_ error: PaddockError) -> String {
        switch error {
        case .untrustedProjectConfig: return "it changed since you trusted it (`paddock trust` applies it)"
        case .notFound(let message): return message
        default: return "\(error)"
        }
    }
}
