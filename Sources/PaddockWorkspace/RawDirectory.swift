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
        self == directory || (count > directory.count && starts(with: directory) && self[directory.count] == UInt8(ascii: "/"))
    }
}

/// What `lstat` says about one entry: its kind and when its inode last changed. ctime is set by the kernel on
/// every write, rename, chmod or link; an unprivileged process can move mtime back, never ctime.
struct RawStatus: Sendable {
    var kind: EntryKind
    var changed: Double

    init(_ info: stat) {
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

    /// Opens a directory (the last component must not be a link); the caller closes the descriptor.
    static func open(_ fd: Int32, _ name: RawPath) -> Result<Int32, Errno> {
        let opened = openat(fd, cString(name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        return opened >= 0 ? .success(opened) : .failure(Errno(errno))
    }

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

    static func rename(_ fd: Int32, _ from: RawPath, to: RawPath) -> Errno? {
        let result = renameat(fd, cString(from), fd, cString(to))
        return result == 0 ? nil : Errno(errno)
    }
}

/// An `errno` that prints as the system's message.
struct Errno: Error, Equatable, Sendable, CustomStringConvertible {
    var code: Int32
    init(_ code: Int32) { self.code = code }
    var description: String { String(cString: strerror(code)) }
}
