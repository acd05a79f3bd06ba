import Foundation

// The only code in PaddockCore that looks at the host's disk: each lookup the pure planner and policies take as a
// parameter (or as a default a caller can replace), kept here so the rest of the module stays plain values.

extension MountPolicy {
    /// The first unix socket at or under `path` (symlinks not followed), searching at most `limit` entries. A socket
    /// bind-mounted into the sandbox works there, so a folder holding an ssh-agent's or an engine's socket hands the
    /// agent that program. Past the limit the search stops without a finding: the named folders above remain the
    /// rule, this search the backstop.
    public static func findSocket(at path: String, limit: Int = socketSearchLimit) -> String? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        if status.st_mode & S_IFMT == S_IFSOCK { return path }
        guard status.st_mode & S_IFMT == S_IFDIR, let entries = FileManager.default.enumerator(atPath: path) else {
            return nil
        }
        var searched = 0
        while let entry = entries.nextObject() as? String, searched < limit {
            searched += 1
            if entries.fileAttributes?[.type] as? FileAttributeType == .typeSocket { return path + "/" + entry }
        }
        return nil
    }

    /// Expands `~` and resolves against the project, then follows symlinks, so a link cannot smuggle a
    /// secret past the check.
    public static func resolve(_ path: String, home: String, relativeTo base: String) -> String {
        ((expand(path, home: home, relativeTo: base) as NSString).standardizingPath as NSString).resolvingSymlinksInPath
    }
}

extension PathResolution {
    /// The text of the link at `path`, or nil when it is no link.
    public static func linkText(_ path: String) -> String? {
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFLNK else { return nil }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink(path, &buffer, buffer.count - 1)
        guard length >= 0 else { return nil }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func entryExists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }
}

extension WorkspaceAccess {
    /// The owner and mode of `path` on this machine (symlinks followed, as a mount follows them), or nil.
    public static func of(_ path: String) -> WorkspaceAccess? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return WorkspaceAccess(ownerUID: status.st_uid, ownerGID: status.st_gid, mode: UInt16(status.st_mode & 0o7777))
    }
}
