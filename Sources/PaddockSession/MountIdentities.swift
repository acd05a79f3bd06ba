import Foundation
import PaddockCore

#if canImport(Glibc)
    import Glibc
#endif

/// What each bind mount's source is now, for `MountIdentityCheck`: found by walking its path one component at a
/// time without following any link, so a swap that already happened is refused here, and one still to come is
/// seen by the sandbox.
enum MountIdentities {
    /// `linkedPrefixes`: folders of paddock's and the user's own (the home, paddock's state folder, the temporary
    /// folder) whose own path may hold a link; no sandbox can write them. Below them nothing may be a link.
    static func capture(_ mounts: [Mount], linkedPrefixes: [String] = []) throws -> [MountIdentityCheck.Identity] {
        try mounts.filter { $0.kind == .bind }.map { mount in
            guard let (device, inode) = identity(of: mount.source, linkedPrefixes: linkedPrefixes) else {
                throw PaddockError.mountChanged(path: mount.source)
            }
            return MountIdentityCheck.Identity(target: mount.target, device: device, inode: inode)
        }
    }

    static func identity(of path: String, linkedPrefixes: [String]) -> (UInt64, UInt64)? {
        if let found = identity(of: path) { return found }
        for prefix in linkedPrefixes.map({ $0.hasSuffix("/") ? String($0.dropLast()) : $0 })
        where !prefix.isEmpty && path.hasPrefix(prefix + "/") {
            guard let real = realpath(prefix, nil) else { continue }
            defer { free(real) }
            if let found = identity(of: String(cString: real) + path.dropFirst(prefix.count)) { return found }
        }
        return nil
    }

    /// The device and inode at `path` (absolute, already free of links), or nil if any component is a link now,
    /// or missing.
    static func identity(of path: String) -> (UInt64, UInt64)? {
        guard path.hasPrefix("/") else { return nil }
        let components = path.split(separator: "/").map(String.init)
        guard !components.contains(where: { $0 == "." || $0 == ".." }) else { return nil }
        #if os(Linux)
            // O_PATH (Glibc's module leaves it out): a directory to walk through, whatever its permissions.
            let directoryFlags: Int32 = 0o10000000 | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        #else
            let directoryFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        #endif
        var directory = open("/", directoryFlags)
        guard directory >= 0 else { return nil }
        defer { close(directory) }
        for component in components.dropLast() {
            let next = openat(directory, component, directoryFlags)
            guard next >= 0 else { return nil }
            close(directory)
            directory = next
        }
        var status = stat()
        if let last = components.last {
            guard fstatat(directory, last, &status, AT_SYMLINK_NOFOLLOW) == 0,
                (status.st_mode & S_IFMT) != S_IFLNK
            else { return nil }
        } else {
            guard fstat(directory, &status) == 0 else { return nil }
        }
        return (UInt64(status.st_dev), UInt64(status.st_ino))
    }
}
