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
