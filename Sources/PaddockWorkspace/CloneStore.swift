import Foundation
import PaddockCore

/// Uncommitted work in the host's working tree when a session starts.
public struct HostChanges: Equatable, Sendable {
    public var staged: Int
    public var unstaged: Int
    public var untracked: Int

    public init(staged: Int = 0, unstaged: Int = 0, untracked: Int = 0) {
        self.staged = staged
        self.unstaged = unstaged
        self.untracked = untracked
    }

    public var isEmpty: Bool { staged == 0 && unstaged == 0 && untracked == 0 }

    public var summary: String {
        "\(staged) staged, \(unstaged) modified, \(untracked) untracked"
    }

    /// Counts `git status --porcelain=v1 -z --no-renames` entries.
    static func parse(porcelain: String) -> HostChanges {
        var changes = HostChanges()
        for entry in porcelain.split(separator: "\0") where entry.count >= 3 {
            let status = Array(entry.prefix(2))
            if status == ["?", "?"] {
                changes.untracked += 1
                continue
            }
            if status[0] != " " && status[0] != "!" { changes.staged += 1 }
            if status[1] != " " && status[1] != "!" { changes.unstaged += 1 }
        }
        return changes
    }
}

/// Who owns the clone's files when the sandbox user is not the host user (the host user is root in CI).
public struct FileOwner: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32

    public init(uid: UInt32, gid: UInt32) {
        self.uid = uid
        self.gid = gid
    }
}

public struct CloneRequest: Equatable, Sendable {
    public var hostPath: String
    public var sessionID: String
    /// Defaults to the host repository's directory name.
    public var name: String?
    /// Where the clone appears in the sandbox.
    public var target: String
    /// Bring the host's uncommitted changes into the clone.
    public var carry: Bool
    public var owner: FileOwner?

    public init(
        hostPath: String, sessionID: String, name: String? = nil, target: String = "/workspace", carry: Bool = false,
        owner: FileOwner? = nil
    ) {
        self.hostPath = hostPath
        self.sessionID = sessionID
        self.name = name
        self.target = target
        self.carry = carry
        self.owner = owner
    }
}

/// A clone ready for a session.
public struct CloneSession: Equatable, Sendable {
    public var record: CloneRecord
    public var paths: ClonePaths
    /// The clone read-write at the target, the host's object stores read-only at their own paths (the paths the
    /// clone's alternates name).
    public var mounts: [Mount]
    /// The working directory inside the sandbox.
    public var workspace: String
    public var hostChanges: HostChanges
    public var carried: Bool
    /// What to tell the user at start.
    public var lines: [String]
}

/// Per-session clones under `<state>/clones` (the caller chooses `root`).
public struct CloneStore: Sendable {
    public var root: String
    public var git: Git

    public init(root: String, git: Git) {
        self.root = root
        self.git = git
    }

    public func paths(sessionID: String, name: String) -> ClonePaths {
        ClonePaths(root: root, sessionID: sessionID, name: name)
    }

    /// The ref that keeps a session's starting commit alive in the host repository (so a `git gc` on the host
    /// cannot prune objects the clone borrows) until the clone is gone. Not under `refs/paddock/`: git would
    /// resolve `paddock/<id>` to it before `refs/heads/paddock/<id>`.
    static func pinRef(_ sessionID: String) -> String { "refs/paddock-base/" + sessionID }

    /// Makes a clone on `paddock/<session>` at the host's HEAD that borrows the host's objects instead of copying
    /// them, so it takes the same time whatever the history's size.
    public func create(_ request: CloneRequest) async throws -> CloneSession {
        try WorkspaceName.validate(request.sessionID, what: "Session id")
        let host = FileSystem.canonical(request.hostPath)
        let facts = try await git.run(
            git.plain(
                ["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir", "--show-object-format"],
                in: host)
        ).split(separator: "\n").map(String.init)
        guard facts.count == 3 else {
            throw PaddockError.invalidArgument(
                "\(host) is not a git working tree, so it cannot be cloned. Use --isolate mount, or run `git init`.")
        }
        let top = FileSystem.canonical(facts[0])
        let name = request.name ?? WorkspaceName.derived(fromDirectory: top)
        try WorkspaceName.validate(name, what: "Repository name")
        guard
            let baseOutput = try await git.runIfPresent(
                git.plain(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], in: top))
        else {
            throw PaddockError.invalidArgument(
                "\(top) has no commit yet, so a clone has nothing to start from. Commit once and start again.")
        }
        let base = baseOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        let objectStores = try hostObjectStores(FileSystem.canonical(facts[1] + "/objects"))
        for store in objectStores
        where store.contains("\n") || FileSystem.isInside(store, request.target)
            || FileSystem.isInside(request.target, store)
        {
            throw PaddockError.invalidArgument(
                "The object store \(store) cannot be shared with the sandbox at its own path. Move the repository "
                    + "to a path without line breaks, outside \(request.target), or use --isolate mount.")
        }

        try FileSystem.createDirectory(root + "/" + request.sessionID)
        let paths = self.paths(sessionID: request.sessionID, name: name)
        guard FileSystem.kind(paths.clone) == .missing, FileSystem.kind(paths.record) == .missing else {
            throw PaddockError.invalidArgument(
                "Session \(request.sessionID) already has a clone of \(name) at \(paths.clone). Choose another session id."
            )
        }
        let record = CloneRecord(
            sessionID: request.sessionID, name: name, hostRepository: top, hostObjects: objectStores[0], base: base,
            branch: CloneRecord.branch(for: request.sessionID), objectFormat: facts[2],
            // Whole seconds: the record stores ISO 8601 and must read back equal.
            created: Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down)))

        let changes = HostChanges.parse(
            porcelain: try await git.run(
                git.plain(["--no-optional-locks", "status", "--porcelain=v1", "-z", "--no-renames"], in: top)))
        do {
            try FileSystem.createDirectory(paths.clone)
            try await populate(paths, record: record)
            if request.carry, !changes.isEmpty { try await carry(from: top, into: paths, base: base) }
            if let owner = request.owner { try FileSystem.changeOwner(paths.clone, uid: owner.uid, gid: owner.gid) }
            try await git.run(git.plain(["update-ref", Self.pinRef(request.sessionID), base], in: top))
            try paths.save(record)
        } catch {
            try? FileSystem.removeTree(paths.scratch)
            try? FileSystem.removeTree(paths.clone)
            try? FileSystem.removeTree(paths.record)
            throw error
        }
        try? FileSystem.removeTree(paths.scratch)

        var mounts = [Mount.bind(paths.clone, at: request.target, readOnly: false)]
        mounts += objectStores.map { Mount.bind($0, at: $0, readOnly: true) }
        var lines: [String] = []
        let short = String(base.prefix(12))
        if !changes.isEmpty, request.carry {
            lines.append("Brought the uncommitted changes in \(top) (\(changes.summary)) into the session's clone.")
        } else if !changes.isEmpty {
            lines.append(
                "\(top) has uncommitted changes (\(changes.summary)); the session starts from commit \(short) "
                    + "without them. Start with --carry to bring them along.")
        }
        return CloneSession(
            record: record, paths: paths, mounts: mounts, workspace: request.target, hostChanges: changes,
            carried: request.carry && !changes.isEmpty, lines: lines)
    }

    /// The host's object directory followed by every store its alternates name (recursively): the clone reads
    /// objects from all of them, so all must be visible (read-only) in the sandbox.
    func hostObjectStores(_ objects: String) throws -> [String] {
        var stores: [String] = []
        var pending = [objects]
        while let store = pending.first {
            pending.removeFirst()
            guard !stores.contains(store) else { continue }
            guard FileSystem.kind(store) == .directory else {
                throw PaddockError.fileSystem(path: store, message: "is not an object directory paddock can share.")
            }
            stores.append(store)
            let alternates = store + "/info/alternates"
            guard FileSystem.kind(alternates) == .file else { continue }
            let text = String(decoding: try FileSystem.readRegularFile(alternates), as: UTF8.self)
            for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
                pending.append(FileSystem.canonical(line.hasPrefix("/") ? String(line) : store + "/" + line))
            }
        }
        return stores
    }

    /// An empty repository whose alternates name the host's objects, its branch at `base`, and the files checked out.
    func populate(_ paths: ClonePaths, record: CloneRecord) async throws {
        try await git.run(
            git.hardened(
                in: paths.clone,
                [
                    "init", "--quiet", "--template=", "--object-format=" + record.objectFormat,
                    "--initial-branch=" + record.branch,
                ]))
        try FileSystem.createDirectory(paths.clone + "/.git/objects/info")
        try FileSystem.write(Data((record.hostObjects + "\n").utf8), to: paths.clone + "/.git/objects/info/alternates")
        try await git.run(git.hardened(in: paths.clone, ["update-ref", "refs/heads/" + record.branch, record.base]))
        try await git.run(git.hardened(in: paths.clone, ["read-tree", "--reset", "-u", "HEAD"]))
    }

    /// Staged changes go to the clone's index and files, unstaged ones to its files, untracked files are copied.
    /// Patches travel through files, not strings, so any bytes survive.
    func carry(from host: String, into paths: ClonePaths, base: String) async throws {
        try FileSystem.createDirectory(paths.scratch)
        let options = [
            "--binary", "--full-index", "--no-textconv", "--no-ext-diff", "--no-color", "--no-renames",
            "--src-prefix=a/", "--dst-prefix=b/", "--ignore-submodules=all",
        ]
        let staged = paths.scratch + "/staged.patch"
        let unstaged = paths.scratch + "/unstaged.patch"
        try await git.run(git.plain(["diff", "--cached", "--output=" + staged] + options + [base], in: host))
        try await git.run(git.plain(["diff", "--output=" + unstaged] + options, in: host))
        for (patch, index) in [(staged, true), (unstaged, false)] where FileSystem.fileSize(patch) > 0 {
            try await git.run(
                git.hardened(in: paths.clone, ["apply", "--whitespace=nowarn"] + (index ? ["--index"] : []) + [patch]))
        }

        let untracked = try await git.run(git.plain(["ls-files", "--others", "--exclude-standard", "-z"], in: host))
        for relative in untracked.split(separator: "\0").map(String.init) where !relative.hasSuffix("/") {
            try FileSystem.copyEntry(from: host + "/" + relative, to: paths.clone + "/" + relative)
        }
    }
}

extension Git {
    /// git in a directory paddock made and the agent has not touched yet, with the same switches as `hardened`.
    func hardened(in directory: String, _ arguments: [String]) -> Command {
        Command(
            executable, ["-C", directory] + Self.hardeningOptions + arguments, environment: Self.hardenedEnvironment)
    }
}
