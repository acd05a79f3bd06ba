import Foundation

/// What the user approved: the exact bytes of a project file.
public struct TrustRecord: Codable, Equatable, Sendable {
    public var path: String
    public var sha256: String
    /// Kept so an untrusted change can be shown as a diff against what was approved.
    public var content: String
    public var trustedAt: Date

    public init(path: String, content: String, trustedAt: Date) {
        self.path = path
        self.sha256 = Hashing.sha256Hex(content)
        self.content = content
        self.trustedAt = trustedAt
    }
}

public enum TrustStatus: Equatable, Sendable {
    case trusted
    /// Never trusted: the diff is against an empty file.
    case neverTrusted(diff: String)
    case changed(diff: String)

    public static func evaluate(content: String, record: TrustRecord?) -> TrustStatus {
        guard let record else { return .neverTrusted(diff: LineDiff.render(old: "", new: content)) }
        // The stored hash, not the stored text, decides: the text is only for showing the diff.
        if record.sha256 == Hashing.sha256Hex(content) { return .trusted }
        return .changed(diff: LineDiff.render(old: record.content, new: content))
    }
}

/// Trust records live in the state directory, outside anything mounted into a sandbox.
public struct TrustStore: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func recordPath(for file: String) -> String {
        directory + "/" + Hashing.sha256Hex(file) + ".json"
    }

    public func record(for file: String) throws -> TrustRecord? {
        let path = recordPath(for: file)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            let record = try decoder.decode(TrustRecord.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
            return record.path == file ? record : nil
        } catch {
            throw PaddockError.fileSystem(
                path: path, message: "unreadable trust record (\(error)); delete it and run `paddock trust` again")
        }
    }

    public func trust(file: String, content: String, at date: Date = Date()) throws {
        let record = TrustRecord(path: file, content: content, trustedAt: date)
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try encoder.encode(record).write(to: URL(fileURLWithPath: recordPath(for: file)), options: .atomic)
        } catch {
            throw PaddockError.fileSystem(path: recordPath(for: file), message: "could not record trust: \(error)")
        }
    }

    public func status(file: String, content: String) throws -> TrustStatus {
        TrustStatus.evaluate(content: content, record: try record(for: file))
    }
}

/// A line diff for showing users what changed: `-` removed, `+` added, two lines of context.
public enum LineDiff {
    public static func render(old: String, new: String, context: Int = 2) -> String {
        let oldLines = old.isEmpty ? [] : old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let newLines = new.isEmpty ? [] : new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let difference = newLines.difference(from: oldLines)
        var removed = Set<Int>()
        var inserted = Set<Int>()
        for change in difference {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        // Walk both sides in step, emitting removals before insertions at each point.
        var rows: [(mark: Character, text: String)] = []
        var oldIndex = 0
        var newIndex = 0
        while oldIndex < oldLines.count || newIndex < newLines.count {
            if oldIndex < oldLines.count, removed.contains(oldIndex) {
                rows.append(("-", oldLines[oldIndex]))
                oldIndex += 1
            } else if newIndex < newLines.count, inserted.contains(newIndex) {
                rows.append(("+", newLines[newIndex]))
                newIndex += 1
            } else {
                if oldIndex < oldLines.count { rows.append((" ", oldLines[oldIndex])) }
                oldIndex += 1
                newIndex += 1
            }
        }
        let changed = rows.indices.filter { rows[$0].mark != " " }
        guard !changed.isEmpty else { return "" }
        var keep = Set<Int>()
        for index in changed {
            for near in max(0, index - context)...min(rows.count - 1, index + context) { keep.insert(near) }
        }
        var output: [String] = []
        var previous: Int?
        for index in keep.sorted() {
            if let previous, index > previous + 1 { output.append("  …") }
            output.append("\(rows[index].mark) \(rows[index].text)")
            previous = index
        }
        return output.joined(separator: "\n")
    }
}
