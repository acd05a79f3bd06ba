import Foundation

/// The one error type paddock shows its users. Every message says what went wrong and what to do next.
///
/// Exit codes follow sysexits(3) so scripts can tell paddock's own failures apart; `run` otherwise exits with
/// the agent's own code (see the README's table).
public enum PaddockError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No container engine answered.
    case engineUnavailable(engine: String, detail: String)
    /// The engine answers but cannot start a sandbox on this host; `detail` names the fix.
    case engineCannotStart(engine: String, detail: String)
    /// A command the engine ran failed.
    case engineCommandFailed(command: String, status: Int32, stderr: String)
    /// A configuration file could not be parsed or has a wrong value.
    case invalidConfig(file: String, line: Int?, column: Int?, message: String)
    /// The project file changed since the user last trusted it (or was never trusted).
    case untrustedProjectConfig(file: String, diff: String)
    /// A mount would hand the sandbox something it must never see.
    case dangerousMount(path: String, reason: String)
    /// A mount's path leads through a place the agent can write, so the agent would decide what it shows.
    case redirectableMount(path: String, through: String, area: String)
    /// A mount's source is no longer the folder paddock checked (see `MountIdentityCheck`).
    case mountChanged(path: String)
    /// The user asked for something that cannot be done as asked.
    case invalidArgument(String)
    /// The image build failed; the full log is at `log`.
    case imageBuildFailed(log: String, tail: String)
    /// A session, container or clone named by the user does not exist.
    case notFound(String)
    /// A file paddock needs could not be read or written.
    case fileSystem(path: String, message: String)
    /// A git operation failed.
    case git(command: String, message: String)
    /// Anything else; the message must still tell the user what to do.
    case other(String)

    public var description: String {
        switch self {
        case .engineUnavailable(let engine, let detail):
            return """
                \(engine) is not reachable: \(detail)
                Start it (for example `sudo systemctl start docker`, or open Docker Desktop, Colima or OrbStack) \
                and try again; `paddock doctor` shows what paddock sees.
                """
        case .engineCannotStart(let engine, let detail):
            return "\(engine) cannot start a sandbox on this host: \(detail)"
        case .engineCommandFailed(let command, let status, let stderr):
            let detail = stderr.trimmingCharacters(in: .whitespacesAndNewlines)
            return "`\(command)` failed with exit status \(status)\(detail.isEmpty ? "." : ":\n\(detail)")\n"
                + "`paddock doctor` checks the engine; run again with --debug to see each command paddock runs."
        case .invalidConfig(let file, let line, let column, let message):
            var place = file
            if let line { place += ":\(line)" }
            if let line, let column, line > 0 { place += ":\(column)" }
            return "\(place): \(message)\nFix the file and run the command again; nothing was started."
        case .untrustedProjectConfig(let file, let diff):
            return """
                \(file) is not trusted in its current form. The agent can edit this file, so paddock applies it \
                only after you have reviewed it. Changes against the version you last trusted:
                \(diff)
                If these changes are yours, run `paddock trust` and start again.
                """
        case .dangerousMount(let path, let reason):
            return """
                Refusing to mount \(path) into the sandbox: \(reason).
                Remove it from `mounts`, or pass --allow-dangerous-mounts if you really mean to hand it to the agent.
                """
        case .redirectableMount(let path, let through, let area):
            return """
                Refusing to mount \(SafeText.quoted(path)): its path goes through \(SafeText.quoted(through)), inside \
                \(area), which the agent can write. A link or a renamed folder there would decide what the sandbox \
                gets (a session could point it at ~/.claude, ~/.profile or the project's .git), now or between \
                paddock's check and the engine's mount.
                Mount a folder the agent cannot write, by its real path (or copy what the agent needs into the \
                project). --allow-dangerous-mounts does not override this.
                """
        case .mountChanged(let path):
            return """
                \(SafeText.quoted(path)) changed after paddock checked it: a part of its path is now a link, or \
                another folder took its place, which an agent of another session that can write there could do. \
                Nothing was started.
                Stop the other sessions that can write its parent folders, look at what is there now, and start \
                again.
                """
        case .invalidArgument(let message):
            return message
        case .imageBuildFailed(let log, let tail):
            return "The sandbox image failed to build. Last lines:\n\(tail)\nFull log: \(log)"
        case .notFound(let message):
            return message
        case .fileSystem(let path, let message):
            return
                "\(path): \(message)\nCheck that its folder exists, that you own it and that the disk has room, then try again."
        case .git(let command, let message):
            return
                "`\(command)` failed: \(message)\nRun it yourself in that repository to see why; `paddock clean --dry-run` lists clones paddock kept."
        case .other(let message):
            return message
        }
    }

    /// The process exit code for this error (sysexits(3)).
    public var exitCode: Int32 {
        switch self {
        case .invalidArgument: return 64  // EX_USAGE
        case .invalidConfig: return 78  // EX_CONFIG
        case .notFound: return 66  // EX_NOINPUT
        case .engineUnavailable, .engineCannotStart: return 69  // EX_UNAVAILABLE
        case .engineCommandFailed, .imageBuildFailed, .git, .other: return 70  // EX_SOFTWARE
        case .fileSystem: return 74  // EX_IOERR
        case .untrustedProjectConfig, .dangerousMount, .redirectableMount, .mountChanged: return 77  // EX_NOPERM
        }
    }
}
