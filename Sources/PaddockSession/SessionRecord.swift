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

    /// Whether a later start may still have to act on this session: its end is not recorded (its sandbox may
    /// have outlived the launcher), or its guard has not run over the projects it mounted.
    public var isOpen: Bool {
        endedAt == nil || (guardedAt == nil && workspaceStartedAt != nil && !(mounted ?? []).isEmpty)
    }

    /// One empty file per open session, so a start reads the few open records instead of every record ever made.
    public static func openIndex(paths: PaddockPaths) -> String {
        paths.stateDirectory + "/open-sessions"
    }

    /// Writes the record and keeps the open index true to it: the mark is made before an open record is written
    /// and removed only after a closed one is, so a crash in between leaves a mark too many, never one too few.
    /// Where there is no index yet, the first `open` builds it from every record.
    public func write(paths: PaddockPaths) throws {
        let directory = paths.sessionDirectory(id)
        let index = Self.openIndex(paths: paths)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            if isOpen, FileManager.default.fileExists(atPath: index), !Self.mark(id, in: index) {
                throw CocoaError(.fileWriteUnknown)
            }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try encoder.encode(self).write(to: URL(fileURLWithPath: Self.path(id, paths: paths)), options: .atomic)
            if !isOpen { unlink(index + "/" + id.rawValue) }
            // An index put in place by another start while this record was written: mark it there too.
            if isOpen, FileManager.default.fileExists(atPath: index) { Self.mark(id, in: index) }
        } catch {
            throw PaddockError.fileSystem(path: directory, message: "cannot record the session: \(error)")
        }
    }

    public static func all(paths: PaddockPaths) -> [SessionRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: paths.sessionsDirectory)) ?? []
        return read(names.compactMap(SessionID.init), paths: paths)
    }

    /// The open records (`isOpen`), from the open index. A state folder without one (from before it, or where
    /// building it failed) gets it from all its records: marks only, made in a folder of their own and put in
    /// place whole, then every record read once more, so a record written meanwhile is marked too.
    public static func open(paths: PaddockPaths) -> [SessionRecord] {
        let index = openIndex(paths: paths)
        if let marked = marked(in: index, paths: paths) { return marked }
        let open = all(paths: paths).filter(\.isOpen)
        let building = index + ".building-\(getpid())-\(UUID().uuidString.prefix(8))"
        do {
            try FileManager.default.createDirectory(atPath: building, withIntermediateDirectories: true)
            for record in open { mark(record.id, in: building) }
            if rename(building, index) != 0 { try? FileManager.default.removeItem(atPath: building) }
        } catch {
            try? FileManager.default.removeItem(atPath: building)
            return open
        }
        // Written while the marks were made, before `write` could see the index: mark them now.
        for record in all(paths: paths) where record.isOpen { mark(record.id, in: index) }
        return marked(in: index, paths: paths) ?? open
    }

    /// Marks `id` open in `index`; false only when the mark was missing and could not be made.
    @discardableResult
    static func mark(_ id: SessionID, in index: String) -> Bool {
        let mark = index + "/" + id.rawValue
        return FileManager.default.fileExists(atPath: mark)
            || FileManager.default.createFile(atPath: mark, contents: Data())
    }

    /// The open records `index` marks; nil when there is no index to read.
    static func marked(in index: String, paths: PaddockPaths) -> [SessionRecord]? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: index) else { return nil }
        return read(names.compactMap(SessionID.init), paths: paths).filter(\.isOpen)
    }

    /// The newest record that satisfies `matches`, reading from the newest back.
    public static func latest(paths: PaddockPaths, where matches: (SessionRecord) -> Bool) -> SessionRecord? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: paths.sessionsDirectory)) ?? []
        for id in names.compactMap(SessionID.init).sorted(by: >) {
            if let record = load(id, paths: paths), matches(record) { return record }
        }
        return nil
    }

    /// The record of `id`, if there is one that reads.
    public static func load(_ id: SessionID, paths: PaddockPaths) -> SessionRecord? {
        read([id], paths: paths).first
    }

    static func read(_ ids: [SessionID], paths: PaddockPaths) -> [SessionRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return ids.compactMap { id -> SessionRecord? in
            guard let data = FileManager.default.contents(atPath: path(id, paths: paths)) else { return nil }
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
