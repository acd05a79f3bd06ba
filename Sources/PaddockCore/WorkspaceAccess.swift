import Foundation

/// Whether the sandbox user can write a folder mounted read-write, judged from its owner and mode bits the way the
/// kernel judges a write by an unprivileged process (no ACLs, no capabilities: the sandbox has none).
public struct WorkspaceAccess: Equatable, Sendable {
    public var ownerUID: UInt32
    public var ownerGID: UInt32
    public var mode: UInt16

    public init(ownerUID: UInt32, ownerGID: UInt32, mode: UInt16) {
        self.ownerUID = ownerUID
        self.ownerGID = ownerGID
        self.mode = mode
    }

    public func isWritable(by user: SandboxUser) -> Bool {
        if user.uid == ownerUID { return mode & 0o200 != 0 }
        if user.gid == ownerGID { return mode & 0o020 != 0 }
        return mode & 0o002 != 0
    }

    /// What to tell the user before a mount-mode session whose agent could not write `path`, or nil.
    public func warning(path: String, sandboxUser user: SandboxUser, hostUID: UInt32) -> String? {
        guard !isWritable(by: user) else { return nil }
        let why =
            hostUID == 0
            ? "you run paddock as root, so the agent runs as uid \(user.uid) (agents refuse to run as root)"
            : "the agent runs as uid \(user.uid)"
        return "\(why), which cannot write \(path) (owner uid \(ownerUID), mode \(String(mode & 0o777, radix: 8))). "
            + "Use `--isolate clone` (the clone belongs to the agent), run paddock as the project's owner, "
            + "or give uid \(user.uid) write access."
    }
}
