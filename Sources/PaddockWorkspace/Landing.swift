import Foundation
import PaddockCore

/// What happened to a clone at the end of its session.
public struct LandingReport: Equatable, Sendable {
    public var record: CloneRecord
    public var state: CloneState
    /// The branch now in the host repository, when the session committed.
    public var landedBranch: String?
    /// The clone's path when it was kept because it holds work that is nowhere else.
    public var keptClone: String?
    /// What to tell the user.
    public var lines: [String]
}

/// How a kept clone stands, for `paddock ps --all` and `paddock clean`.
public enum CloneStatus: String, Equatable, Sendable, Codable {
    /// Commits on the session branch that the host repository does not have as `paddock/<id>`.
    case unlandedCommits = "unlanded commits"
    /// Uncommitted or untracked files, or commits off the session branch.
    case uncommittedWork = "uncommitted work"
    /// paddock could not look at it safely (the agent changed its git directory); only a human should decide.
    case needsAttention = "needs attention"
    /// The session branch is in the host repository and the clone holds nothing else.
    case landed
    /// Nothing in it that the host repository does not have.
    case safeToRemove = "safe to remove"

    public var isSafeToRemove: Bool { self == .landed || self == .safeToRemove }
}

public struct CloneListing: Equatable, Sendable {
    public var record: CloneRecord
    public var paths: ClonePaths
    /// nil when the clone itself is gone (landed, only the record is left).
    public var state: CloneState?
    public var status: CloneStatus
}

public struct CleanDecision: Equatable, Sendable {
    public var sessionID: String
    public var name: String
    public var removed: Bool
    public var reason: String
}

extension CloneStore {
    /// Ends a session's use of its clone: new commits are fetched into the host repository as `paddock/<id>`;
    /// a clone holding anything else is kept and its path shown; an empty one is removed. Call only after the
    /// sandbox is gone. Every git command that reads the clone is hardened (see `inspect`).
    public func land(sessionID: String, name: String) async throws -> LandingReport {
        let paths = self.paths(sessionID: sessionID, name: name)
        var record = try paths.loadRecord()
        let state = await inspect(paths, record: record)
        var report = LandingReport(record: record, state: state, landedBranch: nil, keptClone: nil, lines: [])
        let host = record.hostRepository
        let short = String(record.base.prefix(12))

        if state.problems.isEmpty, state.hasNewCommits, let tip = state.sessionTip {
            let existing = try await hostBranch(record)
            if existing == nil {
                try await git.run(
                    git.plain(
                        // The -c options reach upload-pack too (git passes them on): the agent's commit-graph
                        // and multi-pack-index caches are not trusted.
                        [
                            "-c", "core.commitGraph=false", "-c", "core.multiPackIndex=false",
                            "-c", "protocol.file.allow=always", "fetch", "--quiet", "--no-tags",
                            "--no-write-fetch-head",
                            "--no-recurse-submodules", paths.scratch,
                            "refs/heads/\(record.branch):refs/heads/\(record.branch)",
                        ], in: host))
            }
            if try await hostBranch(record) == tip {
                record.landedTip = tip
                try paths.save(record)
                report.record = record
                report.landedBranch = record.branch
                report.lines += [
                    "\(name): the session's commits are on branch \(record.branch) in \(host).",
                    "  See them:    git -C \(Command.shellQuoted(host)) log \(short)..\(record.branch)",
                    "  Switch:      git -C \(Command.shellQuoted(host)) switch \(record.branch)",
                ]
            } else {
                report.lines.append(
                    "\(name): \(host) already has a branch \(record.branch) at another commit, so the session's "
                        + "commits were not fetched.")
            }
        }

        let branchSafe = !state.hasNewCommits || report.landedBranch != nil
        if state.hasWorkOutsideBranch || !branchSafe {
            report.keptClone = paths.clone
            report.lines += keptLines(paths, state: state, sessionID: sessionID)
        } else {
            try await remove(paths, record: record, keepRecord: report.landedBranch != nil)
            if report.landedBranch == nil { report.lines.append("\(name): the session changed nothing.") }
        }
        try? FileSystem.removeTree(paths.scratch)
        return report
    }

    func keptLines(_ paths: ClonePaths, state: CloneState, sessionID: String) -> [String] {
        var lines = ["\(paths.clone) is kept: it holds work that is not in the host repository."]
        if !state.changes.isEmpty { lines.append("  \(state.changes.count) uncommitted or untracked paths.") }
        if !state.otherWork.isEmpty {
            // Ref names are the agent's (it can write ref files with any bytes in their names).
            lines.append(
                "  Commits off the session branch: \(state.otherWork.map(SafeText.quoted).joined(separator: ", ")).")
        }
        for problem in state.problems { lines.append("  Not inspected automatically: \(SafeText.line(problem)).") }
        lines += [
            "  See the changes with `paddock diff \(sessionID)`; copy the files you want from that directory.",
            "  Do not run git inside it: the agent controlled its .git (hooks, config) and your git would obey them.",
            "  `paddock clean --force` removes it when you are done.",
        ]
        return lines
    }

    /// The commit `paddock/<id>` names in the host repository, if it exists.
    func hostBranch(_ record: CloneRecord) async throws -> String? {
        guard FileSystem.kind(record.hostRepository) == .directory else { return nil }
        return try await git.runIfPresent(
            git.plain(["rev-parse", "--verify", "--quiet", "refs/heads/" + record.branch], in: record.hostRepository)
        )?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Removes a clone (never following its links), its scratch directory and the host's pin on its start.
    func remove(_ paths: ClonePaths, record: CloneRecord, keepRecord: Bool) async throws {
        try FileSystem.removeTree(paths.clone)
        try FileSystem.removeTree(paths.scratch)
        if FileSystem.kind(record.hostRepository) == .directory {
            _ = try? await git.run(
                git.plain(["update-ref", "-d", Self.pinRef(record.sessionID)], in: record.hostRepository))
        }
        if !keepRecord {
            try FileSystem.removeTree(paths.record)
            let session = URL(fileURLWithPath: paths.clone).deletingLastPathComponent().path
            if FileSystem.children(session).isEmpty { try? FileSystem.removeTree(session) }
        }
    }

    /// Every clone record in the store with the state of its clone.
    public func list() async throws -> [CloneListing] {
        var listings: [CloneListing] = []
        for session in FileSystem.children(root) where FileSystem.kind(root + "/" + session) == .directory {
            for file in FileSystem.children(root + "/" + session) where file.hasSuffix(".json") {
                let paths = self.paths(sessionID: session, name: String(file.dropLast(5)))
                let record = try paths.loadRecord()
                listings.append(try await listing(paths, record: record))
            }
        }
        return listings
    }

    func listing(_ paths: ClonePaths, record: CloneRecord) async throws -> CloneListing {
        guard FileSystem.kind(paths.clone) != .missing else {
            return CloneListing(
                record: record, paths: paths, state: nil, status: record.landedTip == nil ? .safeToRemove : .landed)
        }
        let state = await inspect(paths, record: record)
        try? FileSystem.removeTree(paths.scratch)
        let status: CloneStatus
        if !state.problems.isEmpty {
            status = .needsAttention
        } else if !state.changes.isEmpty || !state.otherWork.isEmpty {
            status = .uncommittedWork
        } else if state.hasNewCommits, try await hostBranch(record) != state.sessionTip {
            status = .unlandedCommits
        } else {
            status = state.hasNewCommits ? .landed : .safeToRemove
        }
        return CloneListing(record: record, paths: paths, state: state, status: status)
    }

    /// Removes clones whose work is safe in the host repository (or all of them with `force`), with the reason
    /// for each decision. `sessionID` limits it to one session.
    public func clean(force: Bool = false, sessionID: String? = nil) async throws -> [CleanDecision] {
        var decisions: [CleanDecision] = []
        for listing in try await list() where sessionID == nil || listing.record.sessionID == sessionID {
            let record = listing.record
            if listing.status.isSafeToRemove || force {
                try await remove(listing.paths, record: record, keepRecord: false)
                let reason =
                    listing.status.isSafeToRemove ? listing.status.rawValue : "forced (\(listing.status.rawValue))"
                decisions.append(
                    CleanDecision(sessionID: record.sessionID, name: record.name, removed: true, reason: reason))
            } else {
                decisions.append(
                    CleanDecision(
                        sessionID: record.sessionID, name: record.name, removed: false,
                        reason: "\(listing.status.rawValue): kept at \(listing.paths.clone); --force removes it"))
            }
        }
        return decisions
    }

    /// What a session changed against where it started: its commits and its uncommitted and untracked files.
    /// Read through paddock's scratch git directory, never the clone's own.
    public func diff(sessionID: String, name: String, extraArguments: [String] = []) async throws -> String {
        let paths = self.paths(sessionID: sessionID, name: name)
        guard FileSystem.kind(paths.record) == .file else {
            throw PaddockError.notFound(
                "Session \(sessionID) has no clone of \(name). `paddock ps --all` lists the sessions paddock kept.")
        }
        let record = try paths.loadRecord()
        let options = ["diff", "--no-ext-diff", "--no-textconv"] + extraArguments
        if FileSystem.kind(paths.clone) == .missing {
            guard let tip = record.landedTip else { return "" }
            return try await git.run(git.plain(options + [record.base, tip, "--"], in: record.hostRepository))
        }
        let snapshot = RefSnapshot.read(paths.clone + "/.git", format: record.objectFormat)
        defer { try? FileSystem.removeTree(paths.scratch) }
        let problems = objectStoreProblems(paths.clone + "/.git", record: record) + snapshot.problems
        if let problem = problems.first {
            throw PaddockError.other(
                "The session changed its git directory (\(problem)), so paddock will not read it with git. "
                    + "Compare the files in \(paths.clone) by hand.")
        }
        let tip = snapshot.refs["refs/heads/" + record.branch]
        try prepareScratch(paths, record: record, tip: tip, head: snapshot.head ?? tip ?? record.base)
        // Intent-to-add in the scratch copy of the index makes untracked files show up as new.
        try await git.run(scratchGit(paths, ["add", "--all", "--intent-to-add"], workTree: true))
        return try await git.run(scratchGit(paths, options + [record.base, "--"], workTree: true))
    }
}
