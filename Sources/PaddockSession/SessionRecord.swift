import Foundation
import PaddockCore
import PaddockEngine

/// What paddock remembers about a session in its state directory.
public struct SessionRecord: Codable, Equatable, Sendable {
    public var id: SessionID
    public var container: String
    public var project: String
    public var agent: String
    public var image: String
    public var launcherPID: Int32
    public var startedAt: Date
    public var endedAt: Date?
    public var exitCode: Int32?
    /// Tells a launcher that was killed from one whose pid was reused.
    public var launcherStart: String?
    /// The engine the sandbox ran on (`EngineKind`), to ask whether it is gone.
    public var engine: String?
    /// Projects mounted read-write, for the guard after the session; nil in records from before it existed.
    public var mounted: [MountedProject]?
    /// Taken before the workspace was prepared: what changed after it is the session's.
    public var workspaceStartedAt: Date?
    /// When the guard ran over `mounted`. A record with `mounted` and no `guardedAt` whose launcher is gone belongs to
    /// a session that was killed before it could run the guard: `paddock clean` runs it.
    public var guardedAt: Date?

    public static func path(_ id: SessionID, paths: PaddockPaths) -> String {
        paths.sessionDirectory(id) + "/session.json"
    }

    public func write(paths: PaddockPaths) throws {
        let directory = paths.sessionDirectory(id)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try encoder.encode(self).write(to: URL(fileURLWithPath: Self.path(id, paths: paths)), options: .atomic)
        } catch {
            throw PaddockError.fileSystem(path: directory, message: "cannot record the session: \(error)")
        }
    }

    public static func all(paths: PaddockPaths) -> [SessionRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let names = (try? FileManager.default.contentsOfDirectory(atPath: paths.sessionsDirectory)) ?? []
        return names.compactMap { name -> SessionRecord? in
            guard let id = SessionID(name),
                let data = FileManager.default.contents(atPath: path(id, paths: paths))
            else { return nil }
            return try? decoder.decode(SessionRecord.self, from: data)
        }.sorted { $0.id < $1.id }
    }
}

/// A project a mount-mode session could write, as the guard after the session needs it.
public struct MountedProject: Codable, Equatable, Sendable {
    public var path: String
    /// `MountModeProtection.topLevelGitPinned`.
    public var topLevelGitPinned: Bool
}

extension SessionRecord {
    /// The launcher that wrote this record has exited (its pid is gone or now names another process).
    public var launcherIsGone: Bool {
        !HostProcess.isAlive(pid: launcherPID, startToken: launcherStart)
    }
}
