import Foundation

/// Where paddock keeps its files on the host, following the XDG base directory rules.
public struct PaddockPaths: Equatable, Sendable {
    public var home: String
    /// `$XDG_CONFIG_HOME/paddock`.
    public var configDirectory: String
    /// `$XDG_STATE_HOME/paddock`: sessions, trust records, logs, clones.
    public var stateDirectory: String

    public init(home: String, configDirectory: String, stateDirectory: String) {
        self.home = home
        self.configDirectory = configDirectory
        self.stateDirectory = stateDirectory
    }

    /// Relative XDG values are ignored, as the specification requires.
    public static func resolve(environment: [String: String], home fallbackHome: String) -> PaddockPaths {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? fallbackHome
        func xdg(_ name: String, _ fallback: String) -> String {
            if let value = environment[name], value.hasPrefix("/") { return value }
            return (home as NSString).appendingPathComponent(fallback)
        }
        return PaddockPaths(
            home: home,
            configDirectory: (xdg("XDG_CONFIG_HOME", ".config") as NSString).appendingPathComponent("paddock"),
            stateDirectory: (xdg("XDG_STATE_HOME", ".local/state") as NSString).appendingPathComponent("paddock"))
    }

    public var globalConfigFile: String { configDirectory + "/config.toml" }
    public var sessionsDirectory: String { stateDirectory + "/sessions" }
    public var trustDirectory: String { stateDirectory + "/trust" }
    public var logsDirectory: String { stateDirectory + "/logs" }
    public var buildDirectory: String { stateDirectory + "/build" }
    public var clonesDirectory: String { stateDirectory + "/clones" }

    public func sessionDirectory(_ id: SessionID) -> String { sessionsDirectory + "/" + id.rawValue }
}

/// The directory a session is about: the git top-level, or the current directory outside git.
public enum ProjectLocator {
    /// Walks up looking for `.git` (a directory, or a file as in worktrees) without running git, because the
    /// repository's config is within the agent's reach and git would read it.
    public static func projectRoot(from directory: String, fileExists: (String) -> Bool) -> String {
        var current = (directory as NSString).standardizingPath
        while true {
            if fileExists(current + "/.git") { return current }
            let parent = (current as NSString).deletingLastPathComponent
            if parent == current || parent.isEmpty { return (directory as NSString).standardizingPath }
            current = parent
        }
    }

    public static let projectFileName = "paddock.toml"
}
