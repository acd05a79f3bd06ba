import Foundation
import PaddockCore

/// Where a session's network policy comes from, read fresh whenever it may have changed: the global file, the
/// project file in its trusted form only, the session's own file (`paddock allow --session`), and the flags.
struct NetworkPolicySource: Sendable {
    var paths: PaddockPaths
    var projectRoot: String
    var sessionID: SessionID?
    var flags: PaddockConfig
    var profile: AgentProfile

    static func sessionFile(_ id: SessionID, paths: PaddockPaths) -> String {
        paths.sessionDirectory(id) + "/network.toml"
    }

    /// The files whose change may change the policy.
    var watchedFiles: [String] {
        var files = [paths.globalConfigFile, projectRoot + "/" + ProjectLocator.projectFileName]
        if let sessionID { files.append(Self.sessionFile(sessionID, paths: paths)) }
        return files
    }

    /// The merged `[network]` table in force. An untrusted project file throws, as at start.
    func networkConfig() throws -> NetworkConfig {
        var config = try ConfigLoader(paths: paths).load(projectRoot: projectRoot, flags: PaddockConfig()).effective
        if let sessionID, let session = try ConfigLoader.layer(at: Self.sessionFile(sessionID, paths: paths)) {
            config = session.config.merged(over: config)
        }
        return flags.merged(over: config).network
    }

    func policy() throws -> NetworkPolicy {
        try Self.policy(for: try networkConfig(), profile: profile, home: paths.home)
    }

    static func policy(for network: NetworkConfig, profile: AgentProfile, home: String) throws -> NetworkPolicy {
        do {
            return try NetworkPolicy(config: network, agentHosts: profile.networkHosts, clients: clientConfig(home: home))
        } catch {
            throw PaddockError.invalidArgument("The network configuration is not valid: \(error). Fix it and start again.")
        }
    }

    /// Package clients' own configuration, so the `npm` and `pypi` presets follow the user's registry.
    static func clientConfig(home: String) -> PackageClientConfig {
        let environment = ProcessInfo.processInfo.environment
        let pipConfig = environment["XDG_CONFIG_HOME"].map { $0 + "/pip/pip.conf" } ?? home + "/.config/pip/pip.conf"
        return PackageClientConfig(
            npmrc: try? String(contentsOfFile: home + "/.npmrc", encoding: .utf8),
            pipConf: (try? String(contentsOfFile: pipConfig, encoding: .utf8))
                ?? (try? String(contentsOfFile: home + "/.pip/pip.conf", encoding: .utf8)))
    }
}
