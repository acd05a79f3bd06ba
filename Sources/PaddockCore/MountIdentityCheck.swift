/// The last check of every bind mount, inside the sandbox before anything else runs there: the engine resolves a
/// source path when it mounts, and until then an agent of another session that can write a parent folder could
/// swap the folder for a link (to ~/.ssh, say). paddock records what each source was when it checked it; the
/// sandbox stops before the agent unless every target is a mount point of its own (a link planted in the target's
/// path would have sent the mount elsewhere, even if it was put back since) holding the object paddock recorded.
public enum MountIdentityCheck {
    /// The sandbox's exit status when a mount is not what paddock checked.
    public static let changedStatus: Int32 = 96
    public static let mountTable = "/proc/self/mountinfo"

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

    /// `command`, run only once every target is listed as a mount point in `table` and shows the identity its
    /// source had. Shell builtins and one `stat`; a target that is a link, or missing, fails the check too.
    public static func wrap(_ command: [String], identities: [Identity], table: String = mountTable) -> [String] {
        guard !identities.isEmpty else { return command }
        let targets = identities.map { Command.shellQuoted($0.target) }.joined(separator: " ")
        let listed = identities.map { Command.shellQuoted(escapedAsInMountTable(canonical($0.target))) }.joined(
            separator: " ")
        let expected = identities.map(\.line).joined(separator: "\n")
        let script = """
            nl='
            '
            m=$nl
            while read -r _ _ _ _ p _; do m=$m$p$nl; done < \(Command.shellQuoted(table))
            for t in \(listed); do
              case "$m" in *"$nl$t$nl"*) ;; *) m=; break ;; esac
            done
            seen=$(PATH=/usr/bin:/bin stat -c '%d:%i' -- \(targets) 2>/dev/null)
            if [ -z "$m" ] || [ "$seen" != '\(expected)' ]; then
              echo "paddock: a mounted folder is not the one paddock checked: something replaced it between the check and the engine's mount (an agent of another session that can write its parent?), or a mount's target goes through a link in the image (name its real path). Nothing was started here." >&2
              exit \(changedStatus)
            fi
            exec "$@"
            """
        return ["/bin/sh", "-c", script, "paddock-mounts"] + command
    }

    /// `/data/`, `//data` and `/./data` as the kernel lists them: `/data`.
    public static func canonical(_ target: String) -> String {
        "/" + target.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// A path as the kernel writes it in mountinfo: space, tab, newline and backslash as octal escapes.
    public static func escapedAsInMountTable(_ path: String) -> String {
        var escaped = ""
        for character in path.unicodeScalars {
            switch character {
            case " ": escaped += "\\040"
            case "\t": escaped += "\\011"
            case "\n": escaped += "\\012"
            case "\\": escaped += "\\134"
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }
}
