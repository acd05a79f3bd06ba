/// The last check of every bind mount, inside the sandbox before anything else runs there: the engine resolves a
/// source path when it mounts, and until then an agent of another session that can write a parent folder could
/// swap the folder for a link (to ~/.ssh, say). paddock records what each source was when it checked it; the
/// sandbox compares that with what is actually mounted and stops before the agent if any differs.
public enum MountIdentityCheck {
    /// The sandbox's exit status when a mount is not what paddock checked.
    public static let changedStatus: Int32 = 96

    /// A bind mount's source as paddock found it: the file system object's inode on its device.
    public struct Identity: Equatable, Sendable {
        public var target: String
        public var device: UInt64
        public var inode: UInt64

        public init(target: String, device: UInt64, inode: UInt64) {
            self.target = target
            self.device = device
            self.inode = inode
        }

        var line: String { "\(device):\(inode)" }
    }

    /// `command`, run only once every target shows the identity its source had. One `stat` for all of them;
    /// a target that is a link, or missing, prints something else and fails the check too.
    public static func wrap(_ command: [String], identities: [Identity]) -> [String] {
        guard !identities.isEmpty else { return command }
        let targets = identities.map { Command.shellQuoted($0.target) }.joined(separator: " ")
        let expected = identities.map(\.line).joined(separator: "\n")
        let script = """
            seen=$(stat -c '%d:%i' -- \(targets) 2>/dev/null)
            if [ "$seen" != '\(expected)' ]; then
              echo "paddock: a mounted folder is not the one paddock checked: something replaced it between the check and the engine's mount (an agent of another session that can write its parent?). Nothing was started here." >&2
              exit \(changedStatus)
            fi
            exec "$@"
            """
        return ["/bin/sh", "-c", script, "paddock-mounts"] + command
    }
}
