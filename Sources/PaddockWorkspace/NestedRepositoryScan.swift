import Foundation
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// One walk over the project. Ordinary directories are listed with `readdir` only (no `stat` per file), so large
/// trees such as node_modules stay fast; everything inside a repository is `lstat`ed for its ctime.
struct NestedRepositoryScan {
    enum Mode {
        /// A repository in the working tree: nothing protected it, so any change counts.
        case everything
        /// Inside the top-level `.git`: its index, refs and objects change in ordinary use, and the read-only mounts
        /// already cover what git executes; only a newly made part (say a new `modules/<name>`) counts.
        case followedOnly
    }

    /// What was found changed in one candidate.
    struct Findings {
        var followed: [String] = []
        var other: [String] = []
        /// What could not be read: hostile, because git may still reach it by name.
        var unreadable: [String] = []
        var isEmpty: Bool { followed.isEmpty && other.isEmpty && unreadable.isEmpty }
    }

    let project: RawPath
    let topGit: RawPath
    /// Whether the project's own `.git` was pinned for the session; otherwise one found now is the session's.
    let topLevelGitPinned: Bool
    let threshold: Double
    let suffix: RawPath
    var report = NestedRepositoryReport()
    /// Real paths already judged, so links cannot make the walk loop.
    var visited: Set<RawPath> = []

    init(project: RawPath, topLevelGitPinned: Bool, threshold: Double, suffix: RawPath) {
        self.project = project
        topGit = project.appending(RawPath(".git"))
        self.topLevelGitPinned = topLevelGitPinned
        self.threshold = threshold
        self.suffix = suffix
    }

    func relative(_ path: RawPath) -> String {
        path == project
            ? "." : path.isInside(project) ? RawPath(path.dropFirst(project.count + 1)).display : path.display
    }

    func isNew(_ status: RawStatus) -> Bool { status.changed >= threshold }

    mutating func walk(_ directory: OpenedDirectory, _ path: RawPath, isRoot: Bool) {
        let descriptor = directory.descriptor
        let entries: [(name: RawPath, type: UInt8)]
        switch RawDirectory.entries(descriptor) {
        case .success(let listed): entries = listed
        case .failure(let error):
            report.unsure.append("Could not read \(relative(path)) (\(error)); a repository inside it was not checked.")
            return
        }
        let names = Set(entries.map(\.name))
        // The project folder itself can be made a repository only when it had no `.git` of its own: git looks
        // for `.git` first.
        if !isRoot || !topLevelGitPinned, names.contains(RawPath("HEAD")),
            names.contains(RawPath("commondir"))
                || (names.contains(RawPath("objects")) && names.contains(RawPath("refs")))
        {
            examineBareRepository(directory, path)
        }
        for entry in entries {
            if isRoot && topLevelGitPinned && entry.name == RawPath(".git") { continue }
            if GitDirectoryPaths.isDotGit(entry.name) {
                examine(descriptor, path, entry.name)
                continue
            }
            let isDirectory: Bool
            switch Int(entry.type) {
            case Int(DT_DIR): isDirectory = true
            case Int(DT_UNKNOWN):
                isDirectory = (try? RawDirectory.status(descriptor, entry.name).get())?.kind == .directory
            default: isDirectory = false
            }
            guard isDirectory else { continue }
            let child = path.appending(entry.name)
            switch RawDirectory.openForScan(descriptor, entry.name) {
            case .success(let opened):
                walk(opened, child, isRoot: false)
                opened.close()
            case .failure(let error):
                examineUnreadable(descriptor, path, entry.name, error)
            }
        }
    }

    /// A folder the scan could not open even with a loan (it is somebody else's). git can still open a path inside
    /// by name when it may enter the folder, so such a folder is taken away whole; one that neither the user nor
    /// the agent (never more than the user) could enter, and that the session did not touch, holds nothing new.
    mutating func examineUnreadable(_ parent: Int32, _ parentPath: RawPath, _ name: RawPath, _ error: Errno) {
        let path = parentPath.appending(name)
        let status = try? RawDirectory.status(parent, name).get()
        if let status, !isNew(status), !RawDirectory.canEnter(parent, name) {
            report.unsure.append(
                "Could not read \(relative(path)) (\(error)), which is not yours and which you cannot enter; it did not "
                    + "change during the session. Before you make it readable, look inside for .git entries.")
            return
        }
        var findings = Findings()
        findings.unreadable.append("\(relative(path)) (\(error))")
        decide(
            relative(path), .unreadable, findings, parent: parent, parentPath: parentPath, name: name, disarmHead: false
        )
    }

    /// A `.git` entry below the project, or at its top when the project had none of its own.
    mutating func examine(_ parent: Int32, _ parentPath: RawPath, _ name: RawPath) {
        let path = parentPath.appending(name)
        var findings = Findings()
        let kind: NestedRepositoryReport.Kind
        switch RawDirectory.status(parent, name) {
        case .failure(let error):
            findings.unreadable.append("\(relative(path)) (\(error))")
            kind = .special
        case .success(let status):
            if isNew(status) { findings.followed.append(relative(path)) }
            switch status.kind {
            case .directory:
                kind = .directory
                switch RawDirectory.openForScan(parent, name) {
                case .success(let opened):
                    collect(opened.descriptor, path, components: [], mode: .everything, into: &findings)
                    opened.close()
                case .failure(let error): findings.unreadable.append("\(relative(path)) (\(error))")
                }
            case .file:
                kind = .gitFile
                // git reads `gitdir: <path>`, relative to the directory holding the file, trailing whitespace dropped.
                let prefix = RawPath("gitdir: ")
                if let content = RawDirectory.readFile(parent, name, limit: 65536), content.starts(with: prefix) {
                    var target = RawPath(content.dropFirst(prefix.count))
                    while let last = target.last, [9, 10, 13, 32].contains(last) { target.removeLast() }
                    if !target.isEmpty {
                        follow(
                            target.first == UInt8(ascii: "/") ? target : parentPath.appending(target), into: &findings)
                    }
                } else if RawDirectory.readFile(parent, name, limit: 1) == nil {
                    findings.unreadable.append("\(relative(path)) (unreadable)")
                }
            case .symbolicLink:
                kind = .symbolicLink
                follow(path, into: &findings)
            case .other, .missing:
                kind = .special
            }
        }
        let isDirectory = (try? RawDirectory.status(parent, name).get())?.kind == .directory
        decide(
            relative(path), kind, findings, parent: parent, parentPath: parentPath, name: name, disarmHead: isDirectory)
    }

    /// A directory git would take for a repository by itself.
    mutating func examineBareRepository(_ directory: OpenedDirectory, _ path: RawPath) {
        var findings = Findings()
        if isNew(directory.status) { findings.other.append(relative(path)) }
        collect(directory.descriptor, path, components: [], mode: .everything, into: &findings)
        decide(
            relative(path), .bareRepository, findings, parent: directory.descriptor, parentPath: path,
            name: RawPath("HEAD"), disarmHead: false)
    }

    /// Records what changed inside a git directory (or a part of one), descending without following links; a link
    /// or `commondir` that leads elsewhere in the project is judged where it leads.
    mutating func collect(
        _ descriptor: Int32, _ path: RawPath, components: [String], mode: Mode, into findings: inout Findings
    ) {
        let entries: [(name: RawPath, type: UInt8)]
        switch RawDirectory.entries(descriptor) {
        case .success(let listed): entries = listed
        case .failure(let error):
            findings.unreadable.append("\(relative(path)) (\(error))")
            return
        }
        for entry in entries {
            let childComponents = components + [entry.name.display]
            let followed = GitDirectoryPaths.isFollowed(childComponents)
            if mode == .followedOnly {
                // Refs, logs and object stores are data git only reads: not even stat-ed (objects: see below).
                let name = entry.name.display
                if ["refs", "logs", "lfs", "rr-cache"].contains(name) { continue }
            }
            let path = path.appending(entry.name)
            let status: RawStatus
            switch RawDirectory.status(descriptor, entry.name) {
            case .success(let found): status = found
            case .failure(let error):
                findings.unreadable.append("\(relative(path)) (\(error))")
                continue
            }
            if isNew(status) {
                if followed {
                    findings.followed.append(relative(path))
                } else if mode == .everything {
                    findings.other.append(relative(path))
                }
            }
            switch status.kind {
            case .directory:
                if mode == .followedOnly && entry.name == RawPath("objects") {
                    // Only `objects/info` matters here; the object files are many and only read.
                    let info = RawPath("objects/info")
                    guard (try? RawDirectory.status(descriptor, info).get()) != nil else { continue }
                    switch RawDirectory.openForScan(descriptor, info) {
                    case .success(let child):
                        collect(
                            child.descriptor, path.appending(RawPath("info")), components: childComponents + ["info"],
                            mode: mode, into: &findings)
                        child.close()
                    case .failure(let error): findings.unreadable.append("\(relative(path))/info (\(error))")
                    }
                    continue
                }
                switch RawDirectory.openForScan(descriptor, entry.name) {
                case .success(let child):
                    collect(child.descriptor, path, components: childComponents, mode: mode, into: &findings)
                    child.close()
                case .failure(let error): findings.unreadable.append("\(relative(path)) (\(error))")
                }
            case .symbolicLink:
                if mode == .everything || followed { follow(path, into: &findings) }
            case .file:
                if childComponents == ["commondir"],
                    var target = RawDirectory.readFile(descriptor, entry.name, limit: 65536)
                {
                    while let last = target.last, [9, 10, 13, 32].contains(last) { target.removeLast() }
                    if !target.isEmpty {
                        let parent = path.dropLast(entry.name.count + 1)
                        follow(
                            target.first == UInt8(ascii: "/") ? target : RawPath(parent).appending(target),
                            into: &findings)
                    }
                }
            case .other, .missing:
                break
            }
        }
    }

    /// Judges what `target` resolves to, as git would resolve it. Outside the project the agent could not write, so
    /// nothing there is judged.
    mutating func follow(_ target: RawPath, into findings: inout Findings) {
        guard let real = RawDirectory.realPath(target), visited.insert(real).inserted else { return }
        let mode: Mode
        let components: [String]
        if real.isInside(topGit) && topLevelGitPinned {
            mode = .followedOnly
            components = RawPath(real.dropFirst(min(real.count, topGit.count + 1))).display.split(separator: "/").map(
                String.init)
        } else if real.isInside(project) {
            mode = .everything
            components = []
        } else {
            return
        }
        guard let status = try? RawDirectory.status(real).get() else {
            findings.unreadable.append("\(relative(real)) (could not be examined)")
            return
        }
        if isNew(status) {
            if mode == .everything || GitDirectoryPaths.isFollowed(components) {
                findings.followed.append(relative(real))
            }
        }
        guard status.kind == .directory else { return }
        switch RawDirectory.openForScan(AT_FDCWD, real) {
        case .success(let opened):
            collect(opened.descriptor, real, components: components, mode: mode, into: &findings)
            opened.close()
        case .failure(let error): findings.unreadable.append("\(relative(real)) (\(error))")
        }
    }

    /// Renames `name` in `parent` when anything changed or could not be read; otherwise leaves it.
    mutating func decide(
        _ label: String, _ kind: NestedRepositoryReport.Kind, _ findings: Findings, parent: Int32, parentPath: RawPath,
        name: RawPath, disarmHead: Bool
    ) {
        guard !findings.isEmpty else {
            report.leftAlone.append(label)
            return
        }
        // What git executes or follows comes first, shallow before deep, a config before its neighbours; what could
        // not be read is named as such.
        let followed = findings.followed.sorted {
            let left = ($0.split(separator: "/").count, $0.hasSuffix("/config") ? 0 : 1, $0)
            let right = ($1.split(separator: "/").count, $1.hasSuffix("/config") ? 0 : 1, $1)
            return left < right
        }
        let changes = findings.unreadable.map { "unreadable \($0)" } + followed + findings.other
        var entry = NestedRepositoryReport.Quarantine(
            path: label, kind: kind, renamed: [], changes: Array(changes.prefix(NestedRepositoryReport.shownChanges)),
            changeCount: changes.count)
        let renamedFrom = parentPath.appending(name)
        switch rename(parent, name) {
        case .success(let newName):
            let renamedTo = parentPath.appending(newName)
            entry.renamed.append(.init(from: relative(renamedFrom), to: relative(renamedTo)))
            if disarmHead { self.disarmHead(parent, newName, renamedTo, into: &entry) }
        case .failure(let error):
            report.failures.append(
                "\(relative(renamedFrom)) (\(error)), which changed during the session or could not be read: "
                    + "\(entry.changes.joined(separator: ", ")). Do not run git in the project until you have removed it."
            )
            return
        }
        report.quarantined.append(entry)
    }

    /// A renamed git directory still looks like a bare repository to git run inside it: its HEAD goes too.
    mutating func disarmHead(
        _ parent: Int32, _ name: RawPath, _ path: RawPath, into entry: inout NestedRepositoryReport.Quarantine
    ) {
        guard case .success(let directory) = RawDirectory.openForScan(parent, name) else { return }
        defer { directory.close() }
        let head = RawPath("HEAD")
        guard (try? RawDirectory.status(directory.descriptor, head).get()) != nil else { return }
        switch rename(directory.descriptor, head) {
        case .success(let newName):
            entry.renamed.append(.init(from: relative(path.appending(head)), to: relative(path.appending(newName))))
        case .failure(let error):
            report.failures.append(
                "\(relative(path.appending(head))) (\(error)): git run inside \(relative(path)) still takes it for a "
                    + "repository. Do not run git there.")
        }
    }

    /// Renames to `<name><suffix>`, or `<name><suffix>-2`… when taken; never replaces anything.
    func rename(_ parent: Int32, _ name: RawPath) -> Result<RawPath, Errno> {
        for attempt in 1...100 {
            let candidate = name + suffix + (attempt == 1 ? [] : RawPath("-\(attempt)"))
            // The container is gone, so nothing races between this check and the rename.
            guard case .failure(let error) = RawDirectory.status(parent, candidate), error.code == ENOENT else {
                continue
            }
            if let error = RawDirectory.rename(parent, name, to: candidate) { return .failure(error) }
            return .success(candidate)
        }
        return .failure(Errno(EEXIST))
    }
}
