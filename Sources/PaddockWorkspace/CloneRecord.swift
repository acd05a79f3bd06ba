import Foundation
import PaddockCore

/// What paddock knows about one session's clone. Kept beside the clone, never inside it: the agent sees only the
/// clone, so it cannot change where its work lands or what counts as its starting point.
public struct CloneRecord: Codable, Equatable, Sendable {
    public var sessionID: String
    /// The repository's name in the session (`/workspace/<name>` when several are mounted).
    public var name: String
    /// The host repository's top level.
    public var hostRepository: String
    /// The host's object store, shared read-only through the clone's alternates.
    public var hostObjects: String
    /// The host commit the session started from.
    public var base: String
    public var branch: String
    /// `sha1` or `sha256`.
    public var objectFormat: String
    public var created: Date
    /// Set once the session branch is in the host repository.
    public var landedTip: String?

    public init(
        sessionID: String, name: String, hostRepository: String, hostObjects: String, base: String, branch: String,
        objectFormat: String, created: Date, landedTip: String? = nil
    ) {
        self.sessionID = sessionID
        self.name = name
        self.hostRepository = hostRepository
        self.hostObjects = hostObjects
        self.base = base
        self.branch = branch
        self.objectFormat = objectFormat
        self.created = created
        self.landedTip = landedTip
    }

    public static func branch(for sessionID: String) -> String { "paddock/" + sessionID }
}

/// Where a store keeps one clone: `<root>/<session>/<name>/` is the clone (the only part the sandbox sees),
/// `<root>/<session>/<name>.json` the record and `<root>/<session>/<name>.scratch/` paddock's own git directory
/// for looking at the clone safely.
public struct ClonePaths: Equatable, Sendable {
    public var clone: String
    public var record: String
    public var scratch: String

    init(root: String, sessionID: String, name: String) {
        let session = root + "/" + sessionID
        clone = session + "/" + name
        record = session + "/" + name + ".json"
        scratch = session + "/" + name + ".scratch"
    }

    func loadRecord() throws -> CloneRecord {
        let data = try FileSystem.readRegularFile(record)
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(CloneRecord.self, from: data)
        } catch {
            throw PaddockError.fileSystem(
                path: record, message: "is not a clone record paddock can read (\(error)). Remove it by hand.")
        }
    }

    func save(_ record: CloneRecord) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try FileSystem.write(try encoder.encode(record), to: self.record)
        } catch let error as PaddockError {
            throw error
        } catch {
            throw PaddockError.fileSystem(path: self.record, message: "could not be encoded: \(error)")
        }
    }
}
