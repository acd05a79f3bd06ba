import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A path as the kernel sees it: bytes, so a name that is not UTF-8 can still be opened, checked and renamed.
typealias RawPath = [UInt8]

extension RawPath {
    init(_ text: String) { self = Array(text.utf8) }

    func appending(_ name: RawPath) -> RawPath { self + [UInt8(ascii: "/")] + name }

    /// For messages only: names that are not UTF-8 show replacement characters.
    var display: String { String(decoding: self, as: UTF8.self) }

    /// Whether this path is `directory` or lies below it (both absolute and canonical).
    func isInside(_ directory: RawPath) -> Bool {
        self == directory
            || (count > directory.count && starts(with: directory) && self[directory.count] == UInt8(ascii: "/"))
    }
}

/// What `lstat` says about one entry: its kind and when its inode last changed. ctime is set by the kernel on
/// every write, rename, chmod or link; an unprivileged process can move mtime back, never ctime.
struct RawStatus: Sendable {
    var kind: EntryKind
    var changed: Double
    /// Permission bits (with set-id and sticky bits), and the owner: whether the scan may lend itself access.
    var mode: mode_t
    var owner: uid_t
    /// Which file it is: what a later open must find again before it acts.
    var device: UInt64
    var inode: UInt64

    init(_ info: stat) {
        mode = info.st_mode & 0o7777
        owner = info.st_uid
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        switch info.st_mode & S_IFMT {
        case S_IFREG: kind = .file
        case S_IFDIR: kind = .directory
        case S_IFLNK: kind = .symbolicLink
        default: kind = .other
        }
        #if canImport(Darwin)
            changed = Double(info.st_ctimespec.tv_sec) + Double(info.st_ctimespec.tv_nsec) / 1e9
        #else
            changed = Double(info.st_ctim.tv_sec) + Double(info.st_ctim.tv_nsec) / 1e9
        #endif
    }
}

/// Directory access by descriptor, never following a symbolic link: the primitives the nested-repository scan
/// walks with. Descriptors keep long or odd paths working and avoid re-resolving every parent on each call.
enum RawDirectory {
    /// A NUL-terminated copy, passed to C as a pointer by Swift's array-to-pointer conversion.
    static func cString(_ name: RawPath) -> [CChar] { name.map { CChar(bitPattern: $0) } + [0] }

    /// `lstat` of `name` in the directory `fd`; nil when it cannot be examined (the errno is in the result).
    static func status(_ fd: Int32, _ name: RawPath) -> Result<RawStatus, Errno> {
        var info = stat()
        let result = fstatat(fd, cString(name), &info, AT_SYMLINK_NOFOLLOW)
        return result == 0 ? .success(RawStatus(info)) : .failure(Errno(errno))
    }

    static func status(_ path: RawPath) -> Result<RawStatus, Errno> { status(AT_FDCWD, path) }

    /// The names in a directory with the type `readdir` reports (`DT_UNKNOWN` on file systems that do not say),
    /// without `.` and `..`.
    static func entries(_ fd: Int32) -> Result<[(name: RawPath, type: UInt8)], Errno> {
        let copy = dup(fd)
        guard copy >= 0 else { return .failure(Errno(errno)) }
        guard let directory = fdopendir(copy) else {
            let error = Errno(errno)
            close(copy)
            return .failure(error)
        }
        defer { closedir(directory) }
        rewinddir(directory)  // a duplicated descriptor shares its position with the original
        var result: [(name: RawPath, type: UInt8)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { RawPath($0.prefix { $0 != 0 }) }
            if name == [46] || name == [46, 46] { continue }
            result.append((name, entry.pointee.d_type))
        }
        return .success(result)
    }

    /// The start of a regular file, read without following a link; nil when it cannot be read.
    static func readFile(_ fd: Int32, _ name: RawPath, limit: Int) -> RawPath? {
        let file = openat(fd, cString(name), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard file >= 0 else { return nil }
        defer { close(file) }
        var buffer = RawPath(repeating: 0, count: limit)
        let count = buffer.withUnsafeMutableBytes { read(file, $0.baseAddress, limit) }
        return count >= 0 ? RawPath(buffer.prefix(count)) : nil
    }

    /// The canonical path with every link resolved, as git itself resolves a `gitdir:` or a linked `.git`;
    /// nil when it does not exist. Only reads links, never acts on what they name.
    static func realPath(_ path: RawPath) -> RawPath? {
        guard let resolved = realpath(cString(path), nil) else { return nil }
        defer { free(resolved) }
        return RawPath(UnsafeRawBufferPointer(start: resolved, count: strlen(resolved)))
    }

    /// Renames within one directory. When that directory is the host user's but not writable to them (the agent
    /// can chmod its own folders), it is lent u+wx for the rename and given its mode back.
    static func rename(_ fd: Int32, _ from: RawPath, to: RawPath) -> Errno? {
        if renameat(fd, cString(from), fd, cString(to)) == 0 { return nil }
        let error = Errno(errno)
        var info = stat()
        guard error.code == EACCES, fstat(fd, &info) == 0, info.st_uid == geteuid(),
            fchmod(fd, (info.st_mode & 0o7777) | 0o300) == 0
        else { return error }
        defer { fchmod(fd, info.st_mode & 0o7777) }
        return renameat(fd, cString(from), fd, cString(to)) == 0 ? nil : Errno(errno)
    }

    /// Opens a directory to list it and look inside. git can open a path inside a folder by name without listing
    /// it (`chmod 111`), so a folder the scan may not list or enter is hostile, not skipped: when it is the host
    /// user's (the agent can chmod its own folders), the scan lends itself u+rx and `close` gives the mode back;
    /// otherwise this fails with EACCES and the caller decides.
    static func openForScan(_ fd: Int32, _ name: RawPath) -> Result<OpenedDirectory, Errno> {
        let status: RawStatus
        switch self.status(fd, name) {
        case .success(let found): status = found
        case .failure(let error): return .failure(error)
        }
        guard status.kind == .directory else { return .failure(Errno(ENOTDIR)) }
        let ownsIt = status.owner == geteuid()
        var lent: mode_t?
        var opened = openat(fd, cString(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if opened < 0, errno == EACCES, ownsIt {
            // Lend access through a descriptor, never by name: a second session's agent may swap the name for a
            // link to one of the user's files between the failed open and the chmod (chmod follows links).
            switch lendAccess(fd, name, status: status) {
            case .success(let descriptor):
                lent = status.mode
                opened = descriptor
            case .failure(let error):
                return .failure(error)
            }
        }
        guard opened >= 0 else { return .failure(Errno(errno)) }
        // Listing needs read permission, looking at what is inside needs search permission.
        var probe = stat()
        if lent == nil, fstatat(opened, ".", &probe, AT_SYMLINK_NOFOLLOW) != 0, errno == EACCES {
            guard ownsIt, fchmod(opened, status.mode | 0o500) == 0 else {
                close(opened)
                return .failure(Errno(EACCES))
            }
            lent = status.mode
        }
        return .success(OpenedDirectory(descriptor: opened, status: status, lentFrom: lent))
    }

    /// Opens `name` as the very directory `status` describes, lending it u+rx on the way; the chmod goes through
    /// the descriptor's /proc entry, so it lands on that inode whatever the name points to by then.
    static func lendAccess(_ fd: Int32, _ name: RawPath, status: RawStatus) -> Result<Int32, Errno> {
        #if os(Linux)
            // O_PATH (010000000 on every Linux architecture; Glibc's module does not export it): a handle that
            // needs no permission on the directory itself.
            let handle = openat(fd, cString(name), 0o10000000 | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard handle >= 0 else { return .failure(Errno(errno)) }
            defer { _ = closeDescriptor(handle) }
            var info = stat()
            guard fstat(handle, &info) == 0, info.st_uid == geteuid(), UInt64(info.st_ino) == status.inode,
                UInt64(info.st_dev) == status.device
            else { return .failure(Errno(EACCES)) }
            let byDescriptor = "/proc/self/fd/\(handle)"
            guard chmod(byDescriptor, status.mode | 0o500) == 0 else { return .failure(Errno(errno)) }
            let opened = openat(handle, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard opened >= 0 else {
                let error = Errno(errno)
                chmod(byDescriptor, status.mode)
                return .failure(error)
            }
            return .success(opened)
        #else
            return .failure(Errno(EACCES))
        #endif
    }

    /// Whether the host user may enter a directory (search permission), for one the scan could not open.
    static func canEnter(_ fd: Int32, _ name: RawPath) -> Bool {
        var info = stat()
        return fstatat(fd, cString(name + RawPath("/.")), &info, AT_SYMLINK_NOFOLLOW) == 0
    }
}

/// A directory the scan opened, with what it was before the scan touched it.
struct OpenedDirectory {
    var descriptor: Int32
    /// The directory as found: its ctime is the session's doing, not the scan's loan.
    var status: RawStatus
    /// The mode to give back, when the scan lent itself access.
    var lentFrom: mode_t?

    func close() {
        if let lentFrom { fchmod(descriptor, lentFrom) }
        _ = closeDescriptor(descriptor)
    }
}

/// `close(2)`, under a name `OpenedDirectory.close()` does not shadow.
private func closeDescriptor(_ descriptor: Int32) -> Int32 { close(descriptor) }

/// An `errno` that prints as the system's message.
struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    var code: Int32
    init(_ code: Int32) { self.code = code }
    var description: String { String(cString: strerror(code)) }
}
