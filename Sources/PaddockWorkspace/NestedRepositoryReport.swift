import Foundation

/// What the post-session quarantine found and did, with the lines to show the user.
public struct NestedRepositoryReport: Equatable, Sendable {
    public enum Kind: String, Equatable, Sendable {
        case directory = "git directory"
        case gitFile = "gitdir file"
        case symbolicLink = "symbolic link"
        case special = "special file"
        /// A directory git takes for a repository on its own (`HEAD` with `objects` and `refs`, or `commondir`):
        /// no `.git` in its name, yet git run inside it obeys its config.
        case bareRepository = "bare repository"
        /// A folder paddock could not list: git may still open a repository inside it by name.
        case unreadable = "folder paddock could not read"
    }

    public struct Quarantine: Equatable, Sendable {
        /// The `.git` entry, or a bare repository's directory, relative to the project.
        public var path: String
        public var kind: Kind
        /// What was renamed to what, relative to the project. For a git directory also its `HEAD`, so the renamed
        /// directory is not a bare repository either; for a bare repository only its `HEAD`.
        public var renamed: [Rename]
        /// What was created or changed during the session (relative to the project), what git executes or
        /// follows first; at most `shownChanges`, out of `changeCount`.
        public var changes: [String]
        public var changeCount: Int
    }

    public struct Rename: Equatable, Sendable {
        public var from: String
        public var to: String
    }

    public var quarantined: [Quarantine] = []
    /// Nested repositories nothing in the session touched (vendored checkouts, the user's own submodules).
    public var leftAlone: [String] = []
    /// Entries that should have been quarantined but could not be renamed: git may still run what they hold.
    public var failures: [String] = []
    /// Places that could not be checked completely.
    public var unsure: [String] = []
    /// Other things the session left that the user should look at before running git.
    public var warnings: [String] = []

    public init() {}

    /// Whether there is nothing to tell the user.
    public var isClean: Bool { quarantined.isEmpty && failures.isEmpty && unsure.isEmpty && warnings.isEmpty }

    static let shownChanges = 6

    /// One line per finding, most urgent first.
    public var lines: [String] {
        var lines = failures.map { "Could not quarantine \($0)" }
        for entry in quarantined {
            let more = entry.changeCount > entry.changes.count ? ", …" : ""
            // The first rename in full, the HEAD inside it by name only: the paths are long enough already.
            let renames = entry.renamed.enumerated().map { index, rename in
                index == 0
                    ? "to \(rename.to)" : "its \(Self.lastComponent(rename.from)) to \(Self.lastComponent(rename.to))"
            }.joined(separator: " and ")
            if entry.kind == .unreadable {
                lines.append(
                    "Quarantined \(entry.path) (a folder that is not yours and that paddock could not list, while git "
                        + "could still open a repository inside it by name): renamed \(renames). Nothing was deleted. "
                        + "Look inside for .git entries before you rename it back.")
                continue
            }
            lines.append(
                "Quarantined \(entry.path) (\(entry.kind.rawValue) created or changed during the session: "
                    + "\(entry.changes.joined(separator: ", "))\(more)): renamed \(renames), so git no longer runs "
                    + "anything from it. Nothing was deleted. Read its config and hooks before you rename it back.")
        }
        lines += unsure
        lines += warnings
        if !leftAlone.isEmpty {
            let shown = leftAlone.prefix(5).joined(separator: ", ") + (leftAlone.count > 5 ? ", …" : "")
            lines.append("Left alone \(leftAlone.count) nested repositories the session did not change: \(shown).")
        }
        return lines
    }

    static func lastComponent(_ path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }
}
