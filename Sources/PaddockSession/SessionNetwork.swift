import Foundation
import PaddockCore

/// Where a session's network policy comes from, read fresh whenever it may have changed: the global file, the
/// project file in its trusted form only, the session's own file (`paddock allow --session`), and the flags; each
/// layer on its own (`NetworkLayerFiles`).
public struct NetworkPolicySource: Sendable {
    public var paths: PaddockPaths
    public var projectRoot: String
    public var sessionID: SessionID?
    public var flags: PaddockConfig
    public var profile: AgentProfile

    public init(
        paths: PaddockPaths, projectRoot: String, sessionID: SessionID?, flags: PaddockConfig, profile: AgentProfile
    ) {
        self.paths = paths
        self.projectRoot = projectRoot
        self.sessionID = sessionID
        self.flags = flags
        self.profile = profile
    }

    public static func sessionFile(_ id: SessionID, paths: PaddockPaths) -> String {
        paths.sessionDirectory(id) + "/network.toml"
    }

    /// The layers' files: global, project (applied only in a trusted form), session.
    public var files: NetworkLayerFiles {
        NetworkLayerFiles(
            globalFile: paths.globalConfigFile, projectFile: projectRoot + "/" + ProjectLocator.projectFileName,
            sessionFile: sessionID.map { Self.sessionFile($0, paths: paths) },
            trust: TrustStore(directory: paths.trustDirectory),
            flags: flags.network)
    }

    /// The policy in force now. An untrusted project file throws, as at start.
    public func policy() throws -> NetworkPolicy {
        try policy(files.read())
    }

    public func policy(_ layers: NetworkLayers) throws -> NetworkPolicy {
        try Self.policy(for: layers.merged, profile: profile, home: paths.home)
    }

    public static func policy(for network: NetworkConfig, profile: AgentProfile, home: String) throws -> NetworkPolicy {
        do {
            return try NetworkPolicy(
                config: network, agentHosts: profile.networkHosts, clients: clientConfig(home: home))
        } catch {
            // A configuration error, whichever layer holds it: exit 78, as the README documents.
            throw PaddockError.invalidConfig(
                file: "the network configuration (config.toml, paddock.toml or --allow)", line: nil, column: nil,
                message: "\(error)")
        }
    }

    /// Package clients' own configuration, so the `npm` and `pypi` presets follow the user's registry.
    public static func clientConfig(home: String) -> PackageClientConfig {
        let environment = ProcessInfo.processInfo.environment
        let pipConfig = environment["XDG_CONFIG_HOME"].map { $0 + "/pip/pip.conf" } ?? home + "/.config/pip/pip.conf"
        return PackageClientConfig(
            npmrc: try? String(contentsOfFile: home + "/.npmrc", encoding: .utf8),
            pipConf: (try? String(contentsOfFile: pipConfig, encoding: .utf8))
                ?? (try? String(contentsOfFile: home + "/.pip/pip.conf", encoding: .utf8)))
    }
}
