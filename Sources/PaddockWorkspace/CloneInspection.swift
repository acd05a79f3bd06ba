import Foundation
import PaddockCore

/// What a session's clone holds, found without ever running git with the clone's own config, hooks or git
/// directory: paddock reads the refs itself and points git at a scratch git directory of its own, whose
/// alternates borrow the clone's objects and whose index is a copy of the clone's.
public struct CloneState: Equatable, Sendable {
    /// The session branch's commit; nil when the branch is gone.
    public var sessionTip: String?
    /// The session branch moved away from where it started.
    public var hasNewCommits: Bool
    /// Other refs or a detached HEAD with commits that are on neither the session branch nor its start.
    public var otherWork: [String]
    /// Uncommitted and untracked (not ignored) paths, as `git status --porcelain` shows them.
    public var changes: [String]
    /// Why paddock could not look at the clone safely. Whatever is found, nothing is deleted automatically.
    public var problems: [String]

    public init(
        sessionTip: String? = nil, hasNewCommits: Bool = false, otherWork: [String] = [], changes: [String] = [],
        problems: [String] = []
    ) {
        self.sessionTip = sessionTip
        self.hasNewCommits = hasNewCommits
        self.otherWork = otherWork
        self.changes = changes
        self.problems = problems
    }

    /// Work that exists only in the clone, whatever happens to the session branch.
    public var hasWorkOutsideBranch: Bool { !otherWork.isEmpty || !changes.isEmpty || !problems.isEmpty }
}

/// The refs of a git directory as files say them (loose refs over `packed-refs`), and HEAD.
struct RefSnapshot: Equatable, Sendable {
    var refs: [String: String] = [:]
    /// `refs/heads/x` when HEAD is symbolic.
    var headRef: String?
    /// The commit HEAD resolves to, if any.
    var head: String?
    var problems: [String] = []

    /// Lower-case hex of the format's length, as bytes: `Character.isHexDigit` also takes fullwidth digits.
    static func isObjectID(_ text: String, format: String) -> Bool {
        text.utf8.count == (format == "sha256" ? 64 : 40)
            && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Reads `gitDirectory` refusing links anywhere in it, so the host reads nothing outside the clone.
    static func read(_ gitDirectory: String, format: String) -> RefSnapshot {
        var snapshot = RefSnapshot()
        let packed = gitDirectory + "/packed-refs"
        switch FileSystem.kind(packed) {
        case .missing: break
        case .file:
            if let data = try? FileSystem.readRegularFile(packed) {
                snapshot.refs = packedRefs(data, format: format)
            }
        default: snapshot.problems.append("packed-refs is a link or special file")
        }
        if FileSystem.kind(gitDirectory + "/refs") == .directory {
            FileSystem.walk(gitDirectory + "/refs") { relative, kind in
                switch kind {
                case .directory: return
                case .file:
                    if let data = try? FileSystem.readRegularFile(gitDirectory + "/refs/" + relative),
                        let id = looseRef(data, format: format)
                    {
                        snapshot.refs["refs/" + relative] = id
                    }
                default: snapshot.problems.append("\(SafeText.quoted("refs/" + relative)) is a link or special file")
                }
            }
        }
        let headPath = gitDirectory + "/HEAD"
        if FileSystem.kind(headPath) == .file, let data = try? FileSystem.readRegularFile(headPath) {
            snapshot.resolveHead(data, format: format)
        } else if FileSystem.kind(headPath) != .missing {
            snapshot.problems.append("HEAD is a link or special file")
        }
        return snapshot
    }

    /// `<id> refs/…` lines of a `packed-refs` file; the header, peeled (`^<id>`) lines and anything else are skipped.
    static func packedRefs(_ data: some Collection<UInt8>, format: String) -> [String: String] {
        var refs: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 1).map(String.init)
            if fields.count == 2, isObjectID(fields[0], format: format), fields[1].hasPrefix("refs/") {
                refs[fields[1]] = fields[0]
            }
        }
        return refs
    }

    /// The object id a loose ref file holds; nil for a symbolic ref or anything else.
    static func looseRef(_ data: some Collection<UInt8>, format: String) -> String? {
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return isObjectID(text, format: format) ? text : nil
    }

    /// HEAD's content: `ref: <name>` (resolved through the refs already read) or a detached object id.
    mutating func resolveHead(_ data: some Collection<UInt8>, format: String) {
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("ref: ") {
            let ref = String(text.dropFirst(5))
            headRef = ref
            head = refs[ref]
        } else if Self.isObjectID(text, format: format) {
            head = text
        }
    }
}

extension CloneStore {
    /// Looks at a clone the agent has finished with. Never throws for what the agent did to it: that becomes a
    /// problem in the state, and the clone is kept.
    public func inspect(_ paths: ClonePaths, record: CloneRecord) async -> CloneState {
        var state = CloneState()
        let gitDirectory = paths.clone + "/.git"
        guard FileSystem.kind(gitDirectory) == .directory else {
            state.problems.append("its .git is missing or not a directory")
            return state
        }
        state.problems += objectStoreProblems(gitDirectory, record: record)
        let snapshot = RefSnapshot.read(gitDirectory, format: record.objectFormat)
        state.problems += snapshot.problems
        guard state.problems.isEmpty else { return state }

        let tip = snapshot.refs["refs/heads/" + record.branch]
        state.sessionTip = tip
        state.hasNewCommits = tip != nil && tip != record.base
        do {
            try prepareScratch(paths, record: record, tip: tip, head: snapshot.head ?? tip ?? record.base)
            if let tip {
                try await git.run(scratchGit(paths, ["cat-file", "-e", tip + "^{commit}"]))
            }
            let known = [record.base] + (tip.map { [$0] } ?? [])
            var candidates = snapshot.refs.filter { $0.key != "refs/heads/" + record.branch }.sorted { $0.key < $1.key }
            if snapshot.headRef == nil, let head = snapshot.head { candidates.append(("HEAD (detached)", head)) }
            for (name, id) in candidates {
                let unique = try await git.run(
                    scratchGit(paths, ["rev-list", "--max-count=1", id, "--not"] + known))
                if !unique.isEmpty { state.otherWork.append(name) }
            }
            let status = try await git.run(
                scratchGit(
                    paths,
                    [
                        "status", "--porcelain=v1", "-z", "--no-renames", "--untracked-files=all",
                        "--ignore-submodules=all",
                    ], workTree: true))
            state.changes = status.split(separator: "\0").map(String.init)
        } catch {
            state.problems.append("git could not read it: \(error)")
        }
        return state
    }

    /// The clone's objects may be loose files and packs only: no links (which would make the host read other
    /// files) and no alternates other than the host's own store.
    func objectStoreProblems(_ gitDirectory: String, record: CloneRecord) -> [String] {
        let objects = gitDirectory + "/objects"
        guard FileSystem.kind(objects) == .directory else { return ["its objects directory is missing"] }
        var problems: [String] = []
        FileSystem.walk(objects) { relative, kind in
            if kind != .file && kind != .directory {
                problems.append("\(SafeText.quoted("objects/" + relative)) is a link or special file")
            }
        }
        for name in ["info/alternates", "info/http-alternates"] where FileSystem.kind(objects + "/" + name) != .missing
        {
            let lines = (try? FileSystem.readRegularFile(objects + "/" + name))
                .map { String(decoding: $0, as: UTF8.self).split(separator: "\n").map(String.init) }
            if name == "info/http-alternates" || lines == nil
                || lines?.contains(where: { $0 != record.hostObjects }) == true
            {
                problems.append("objects/\(name) was changed to name other object stores")
            }
        }
        return problems
    }

    /// paddock's own git directory for a clone: its config, the clone's objects and the host's through
    /// alternates, the session branch, HEAD detached at the clone's HEAD commit, and a copy of the clone's index.
    func prepareScratch(_ paths: ClonePaths, record: CloneRecord, tip: String?, head: String) throws {
        try FileSystem.removeTree(paths.scratch)
        try FileSystem.createDirectory(paths.scratch + "/objects/info")
        try FileSystem.createDirectory(paths.scratch + "/refs/heads/paddock")
        let format = record.objectFormat == "sha1" ? "" : "[extensions]\n\tobjectformat = \(record.objectFormat)\n"
        let version = format.isEmpty ? "0" : "1"
        try FileSystem.write(
            Data("[core]\n\trepositoryformatversion = \(version)\n\tbare = false\n\(format)".utf8),
            to: paths.scratch + "/config")
        try FileSystem.write(
            Data((paths.clone + "/.git/objects\n" + record.hostObjects + "\n").utf8),
            to: paths.scratch + "/objects/info/alternates")
        try FileSystem.write(Data((head + "\n").utf8), to: paths.scratch + "/HEAD")
        if let tip {
            try FileSystem.write(Data((tip + "\n").utf8), to: paths.scratch + "/refs/heads/" + record.branch)
        }
        let index = paths.clone + "/.git/index"
        switch FileSystem.kind(index) {
        case .missing: break
        case .file: try FileSystem.write(try FileSystem.readRegularFile(index), to: paths.scratch + "/index")
        default: throw PaddockError.fileSystem(path: index, message: "is a link or special file")
        }
    }

    func scratchGit(_ paths: ClonePaths, _ arguments: [String], workTree: Bool = false) -> Command {
        git.hardened(arguments, gitDirectory: paths.scratch, workTree: workTree ? paths.clone : nil)
    }
}
