import Foundation

/// One line of `git config --list --show-scope --show-origin -z`.
struct GitConfigEntry: Equatable, Sendable {
    var scope: String
    /// The file the line came from, absolute or relative to the repository's top level; nil for the command line.
    var origin: String?
    /// Lower-cased section and name, as git prints it (`core.hookspath`); the subsection keeps its case.
    var key: String
    var value: String?

    /// Parses git's NUL-separated listing: scope, origin, then `key\nvalue` (a key alone when it has no value).
    static func parse(_ listing: String) -> [GitConfigEntry] {
        let fields = listing.split(separator: "\0", omittingEmptySubsequences: false).map(String.init)
        var entries: [GitConfigEntry] = []
        var index = 0
        while index + 2 < fields.count {
            let origin = fields[index + 1]
            let keyAndValue = fields[index + 2]
            let key: String
            let value: String?
            if let newline = keyAndValue.firstIndex(of: "\n") {
                key = String(keyAndValue[..<newline])
                value = String(keyAndValue[keyAndValue.index(after: newline)...])
            } else {
                key = keyAndValue
                value = nil
            }
            entries.append(
                GitConfigEntry(
                    scope: fields[index], origin: origin.hasPrefix("file:") ? String(origin.dropFirst(5)) : nil,
                    key: key, value: value))
            index += 3
        }
        return entries
    }
}

/// What the effective git config says about files inside the project that git would read or run.
struct GitConfigFindings: Equatable, Sendable {
    /// Existing files inside the project that git reads as config or runs: they must be read-only in the sandbox.
    var readOnlyFiles: Set<String> = []
    /// Existing directories inside the project used as hooks directories.
    var readOnlyDirectories: Set<String> = []
    /// Hooks directories inside the project that do not exist yet: paddock creates them empty so they can be
    /// mounted read-only (an empty directory changes nothing for git).
    var directoriesToCreate: Set<String> = []
    /// Config the agent could complete by creating a file: paddock refuses to start rather than guess.
    var blockers: [String] = []
    var warnings: [String] = []
}

enum GitConfigScan {
    /// Keys whose value git runs as a command (`!`-aliases are matched separately). From git-config(1).
    static func isCommandKey(_ key: String) -> Bool {
        let exact: Set<String> = [
            "core.fsmonitor", "core.sshcommand", "core.pager", "core.editor", "core.askpass", "core.gitproxy",
            "core.alternaterefscommand", "sequence.editor", "diff.external", "credential.helper", "gpg.program",
            "uploadpack.packobjectshook", "web.browser", "sendemail.smtpserver", "sendemail.sendmailcmd",
        ]
        if exact.contains(key) { return true }
        let parts = key.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 3, let section = parts.first, let name = parts.last else {
            return key.hasPrefix("pager.")
        }
        switch (section, name) {
        case ("diff", "textconv"), ("diff", "command"), ("merge", "driver"), ("filter", "clean"),
            ("filter", "smudge"), ("filter", "process"), ("credential", "helper"), ("gpg", "program"),
            ("remote", "uploadpack"), ("remote", "receivepack"), ("browser", "cmd"), ("difftool", "cmd"),
            ("mergetool", "cmd"):
            return true
        default:
            return section == "pager"
        }
    }

    /// Resolves a path as git would: `~/` against `home`, relative ones against `base`.
    static func resolve(_ path: String, base: String, home: String) -> String {
        let expanded = path.hasPrefix("~/") ? home + String(path.dropFirst(1)) : path
        let absolute = expanded.hasPrefix("/") ? expanded : base + "/" + expanded
        return URL(fileURLWithPath: absolute).standardizedFileURL.path
    }

    /// - Parameters:
    ///   - project: the repository's top level, canonical.
    ///   - gitDirectory: its git directory, canonical; its `config` and `config.worktree` are protected anyway.
    ///   - kind: how to look at a path (the real file system, or a table in tests).
    static func analyze(
        _ entries: [GitConfigEntry], project: String, gitDirectory: String, home: String,
        kind: (String) -> EntryKind
    ) -> GitConfigFindings {
        var findings = GitConfigFindings()
        let protectedAnyway: Set<String> = [gitDirectory + "/config", gitDirectory + "/config.worktree"]

        // Every config file git read that lies inside the project can be rewritten by the agent.
        for entry in entries {
            guard let origin = entry.origin else { continue }
            let file = resolve(origin, base: project, home: home)
            if FileSystem.isInside(file, project), !protectedAnyway.contains(file) {
                findings.readOnlyFiles.insert(file)
            }
        }

        var hooksPath: GitConfigEntry?
        for entry in entries {
            guard let value = entry.value, !value.isEmpty else { continue }
            let includingDirectory = entry.origin.map {
                URL(fileURLWithPath: resolve($0, base: project, home: home)).deletingLastPathComponent().path
            }

            if entry.key == "include.path" || (entry.key.hasPrefix("includeif.") && entry.key.hasSuffix(".path")) {
                // An include whose condition is false today (onbranch:, gitdir:) may be true tomorrow.
                let file = resolve(value, base: includingDirectory ?? project, home: home)
                guard FileSystem.isInside(file, project), !protectedAnyway.contains(file) else { continue }
                switch kind(file) {
                case .file:
                    findings.readOnlyFiles.insert(file)
                case .missing:
                    findings.blockers.append(
                        "\(entry.key) names \(file), which does not exist inside the project: the agent could "
                            + "create it and git would run what it says. Create the file (it may be empty) or remove "
                            + "the include, then start again.")
                default:
                    findings.blockers.append(
                        "\(entry.key) names \(file), which is not a regular file. Replace it with a regular file "
                            + "or remove the include, then start again.")
                }
            } else if entry.key == "core.hookspath" {
                hooksPath = entry
            } else if isCommandKey(entry.key) || (entry.key.hasPrefix("alias.") && value.hasPrefix("!")) {
                if entry.key == "core.fsmonitor", ["false", "true", "no", "yes", "off", "on", "0", "1"].contains(value)
                {
                    continue
                }
                for word in commandWords(value) where word.contains("/") {
                    let file = resolve(word, base: project, home: home)
                    guard FileSystem.isInside(file, project) else { continue }
                    if kind(file) == .file {
                        findings.readOnlyFiles.insert(file)
                        findings.warnings.append(
                            "\(entry.key) runs \(file), a file inside the project: it is read-only in the sandbox.")
                    } else {
                        findings.warnings.append(
                            "\(entry.key) runs `\(value)`, which refers to \(file) inside the project; paddock cannot "
                                + "protect what does not exist yet. Check that file after the session.")
                    }
                }
            }
        }

        // Later values win, so only the last core.hooksPath counts; a relative one is taken from the top level.
        if let hooksPath, let value = hooksPath.value {
            let directory = resolve(value, base: project, home: home)
            if FileSystem.isInside(directory, project), !FileSystem.isInside(directory, gitDirectory + "/hooks") {
                switch kind(directory) {
                case .directory: findings.readOnlyDirectories.insert(directory)
                case .missing: findings.directoriesToCreate.insert(directory)
                default:
                    findings.blockers.append(
                        "core.hooksPath names \(directory), which is not a directory. Make it a real directory or "
                            + "change core.hooksPath, then start again.")
                }
            }
        }
        return findings
    }

    /// The words of a shell command, with simple quotes removed: enough to spot paths, not a shell parser.
    static func commandWords(_ command: String) -> [String] {
        command.trimmingCharacters(in: CharacterSet(charactersIn: "!")).split(whereSeparator: {
            $0 == " " || $0 == "\t"
        })
        .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }
    }
}
