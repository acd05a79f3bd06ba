import Foundation
import PaddockCore

/// What paddock remembers about a session in its state directory.
struct SessionRecord: Codable, Equatable {
    var id: SessionID
    var container: String
    var project: String
    var agent: String
    var image: String
    var launcherPID: Int32
    var startedAt: Date
    var endedAt: Date?
    var exitCode: Int32?
    /// Tells a launcher that was killed from one whose pid was reused.
    var launcherStart: String?
    /// The engine the sandbox ran on (`EngineKind`), to ask whether it is gone.
    var engine: String?
    /// Projects mounted read-write, for the guard after the session; nil in records from before it existed.
    var mounted: [MountedProject]?
    /// Taken before the workspace was prepared: what changed after it is the session's.
    var workspaceStartedAt: Date?
    /// When the guard ran over `mounted`. A record with `mounted` and no `guardedAt` whose launcher is gone belongs to
    /// a session that was killed before it could run the guard: `paddock clean` runs it.
    var guardedAt: Date?

    static func path(_ id: SessionID, paths: PaddockPaths) -> String {
        paths.sessionDirectory(id) + "/session.json"
    }

    func write(paths: PaddockPaths) throws {
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

    static func all(paths: PaddockPaths) -> [SessionRecord] {
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
struct MountedProject: Codable, Equatable {
    var path: String
    /// `MountModeProtection.topLevelGitPinned`.
    var topLevelGitPinned: Bool
}
