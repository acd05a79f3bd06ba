import Foundation
import PaddockCore

/// git, run through a `ProcessRunner` so tests can assert the exact argv.
///
/// Two trust levels: `plain` for the user's own repository (their config, filters and hooks are theirs to run) and
/// `hardened` for anything the agent has had its hands on, where no config, hook or driver of the agent's may run.
public struct Git: Sendable {
    public var runner: any ProcessRunner
    public var executable: String

    public init(runner: any ProcessRunner, executable: String = "git") {
        self.runner = runner
        self.executable = executable
    }

    /// Variables that would redirect git to another repository, object store or config if inherited from the
    /// caller's environment.
    static let redirectingVariables = [
        "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES", "GIT_CONFIG", "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT", "GIT_EXTERNAL_DIFF", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_ASKPASS", "GIT_EXEC_PATH",
    ]

    /// The environment for the user's own repository: their config applies, nothing inherited redirects git.
    static var plainEnvironment: [String: String?] {
        var environment: [String: String?] = [:]
        for name in redirectingVariables { environment[name] = .some(nil) }
        environment["GIT_TERMINAL_PROMPT"] = "0"
        return environment
    }

    /// The environment for repositories the agent controlled: no system or global config (so no filter, diff or
    /// merge driver, credential helper or pager the agent could select through `.gitattributes`), no prompts.
    static var hardenedEnvironment: [String: String?] {
        var environment = plainEnvironment
        environment["GIT_CONFIG_NOSYSTEM"] = "1"
        environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
        environment["GIT_ATTR_NOSYSTEM"] = "1"
        environment["GIT_OPTIONAL_LOCKS"] = "0"
        environment["GIT_PAGER"] = "cat"
        environment["GIT_EDITOR"] = ":"
        return environment
    }

    /// `-c` options that switch off everything git could execute or follow on its own, whatever config it reads.
    /// Submodules are ignored because `git status` runs git inside each one, with that submodule's own config.
    /// Commit-graph and multi-pack-index files are optional caches the agent could forge: not read at all.
    public static let hardeningOptions: [String] = [
        "core.fsmonitor=false", "core.hooksPath=/dev/null", "core.untrackedCache=false", "core.splitIndex=false",
        "core.pager=cat", "core.editor=:", "core.sshCommand=false", "core.askPass=", "credential.helper=",
        "protocol.allow=never", "protocol.file.allow=always", "diff.ignoreSubmodules=all", "submodule.recurse=false",
        "status.submoduleSummary=false", "gc.auto=0", "maintenance.auto=false", "commit.gpgSign=false",
        "tag.gpgSign=false", "core.commitGraph=false", "core.multiPackIndex=false",
    ].flatMap { ["-c", $0] }

    /// Options for the user's own repository: their config stays, but paddock's own calls never start maintenance.
    static let plainOptions: [String] = ["-c", "gc.auto=0", "-c", "maintenance.auto=false"]

    /// git on the user's own repository at `directory`.
    public func plain(_ arguments: [String], in directory: String) -> Command {
        Command(
            executable, ["-C", directory] + Self.plainOptions + arguments, environment: Self.plainEnvironment)
    }

    /// git on a git directory (and work tree) the agent may have written, with everything executable switched off.
    public func hardened(_ arguments: [String], gitDirectory: String, workTree: String?) -> Command {
        var location = ["--git-dir=" + gitDirectory]
        if let workTree { location.append("--work-tree=" + workTree) }
        return Command(
            executable, location + Self.hardeningOptions + arguments, environment: Self.hardenedEnvironment,
            workingDirectory: workTree ?? gitDirectory)
    }

    /// Runs `command` and returns its stdout, or throws `PaddockError.git` with git's own message.
    @discardableResult
    func run(_ command: Command) async throws -> String {
        let output = try await runner.capture(command)
        guard output.succeeded else {
            let message = output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            throw PaddockError.git(
                command: command.description, message: message.isEmpty ? "exit status \(output.status)" : message)
        }
        return output.stdout
    }

    /// Runs `command`; nil when git says no (exit status 1, as `rev-parse --verify --quiet` does for a missing ref).
    func runIfPresent(_ command: Command) async throws -> String? {
        let output = try await runner.capture(command)
        if output.succeeded { return output.stdout }
        if output.status == 1 { return nil }
        throw PaddockError.git(
            command: command.description, message: output.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Names that end up in ref names and paths: session ids and repository names.
public enum WorkspaceName {
    /// Accepts letters, digits, `.`, `_` and `-`; rejects a leading `-` or `.` (git would read an option or a
    /// hidden path), `..`, and a `.lock` suffix (git's own lock files).
    public static func validate(_ name: String, what: String) throws {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        let problem: String?
        if name.isEmpty {
            problem = "it is empty"
        } else if name.hasPrefix("-") || name.hasPrefix(".") {
            problem = "it starts with `\(name.prefix(1))`"
        } else if !name.unicodeScalars.allSatisfy({ allowed.contains($0) }) {
            problem = "only letters, digits, `.`, `_` and `-` are allowed"
        } else if name.contains("..") || name.hasSuffix(".lock") || name.count > 100 {
            problem = "git does not accept it as part of a branch name"
        } else {
            problem = nil
        }
        if let problem {
            throw PaddockError.invalidArgument("\(what) `\(name)` cannot be used: \(problem). Choose another.")
        }
    }

    /// A repository name derived from its directory, made safe for paths and refs (`my app` → `my-app`).
    public static func derived(fromDirectory path: String) -> String {
        let base = URL(fileURLWithPath: path).lastPathComponent
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        var name = String(String.UnicodeScalarView(base.unicodeScalars.map { allowed.contains($0) ? $0 : "-" }))
        while name.hasPrefix("-") || name.hasPrefix(".") { name.removeFirst() }
        while name.contains("..") { name = name.replacingOccurrences(of: "..", with: ".") }
        if name.hasSuffix(".lock") { name = String(name.dropLast(5)) }
        return name.isEmpty ? "repo" : String(name.prefix(100))
    }
}
