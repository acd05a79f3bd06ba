import Foundation
import PaddockCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a path is, without following a symbolic link at its end (`lstat`).
enum EntryKind: Equatable, Sendable {
    case missing
    case file
    case directory
    case symbolicLink
    case other
}

/// Small file-system helpers that never follow a symbolic link the agent may have planted.
enum FileSystem {
    static func kind(_ path: String) -> EntryKind {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        case S_IFLNK: return .symbolicLink
        default: return .other
        }
    }

    /// The canonical absolute form of a path the user named (their own symlinks resolved; the agent has none yet).
    static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// Whether `path` is `directory` or lies below it (both canonical).
    static func isInside(_ path: String, _ directory: String) -> Bool {
        path == directory || path.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/")
    }

    /// Reads a regular file; refuses a symbolic link or anything else so the agent cannot make the host read
    /// another file through it.
    static func readRegularFile(_ path: String) throws -> Data {
        guard kind(path) == .file else {
            throw PaddockError.fileSystem(path: path, message: "is not a regular file (a symbolic link is refused)")
        }
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw PaddockError.fileSystem(path: path, message: String(cString: strerror(errno)))
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            return try handle.readToEnd() ?? Data()
        } catch {
            throw PaddockError.fileSystem(path: path, message: "could not be read: \(error)")
        }
    }

    static func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw PaddockError.fileSystem(path: path, message: "could not be written: \(error)")
        }
    }

    /// Creates a file only if nothing is there, so it never overwrites or follows what exists.
    static func createExclusively(_ path: String, contents: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw PaddockError.fileSystem(
                path: path, message: "could not be created: \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Data(contents.utf8))
        } catch {
            throw PaddockError.fileSystem(path: path, message: "could not be written: \(error)")
        }
    }

    static func createDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw PaddockError.fileSystem(path: path, message: "could not create the directory: \(error)")
        }
    }

    static func fileSize(_ path: String) -> Int {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        return Int(info.st_size)
    }

    /// Copies one file or symbolic link (as a link, never what it points to), creating parent directories.
    static func copyEntry(from source: String, to destination: String) throws {
        try createDirectory(URL(fileURLWithPath: destination).deletingLastPathComponent().path)
        switch kind(source) {
        case .file:
            var info = stat()
            guard lstat(source, &info) == 0 else { return }
            try write(try readRegularFile(source), to: destination)
            chmod(destination, info.st_mode & 0o777)
        case .symbolicLink:
            do {
                let target = try FileManager.default.destinationOfSymbolicLink(atPath: source)
                try FileManager.default.createSymbolicLink(atPath: destination, withDestinationPath: target)
            } catch {
                throw PaddockError.fileSystem(path: source, message: "could not be copied as a link: \(error)")
            }
        default:
            return
        }
    }

    /// Names in a directory; empty when it cannot be read.
    static func children(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }

    /// Every path below `root` (relative, depth first), descending into real directories only, never into links.
    static func walk(_ root: String, _ visit: (_ relative: String, _ kind: EntryKind) throws -> Void) rethrows {
        func descend(_ relative: String) throws {
            let absolute = relative.isEmpty ? root : root + "/" + relative
            for name in children(absolute) {
                let child = relative.isEmpty ? name : relative + "/" + name
                let childKind = kind(root + "/" + child)
                try visit(child, childKind)
                if childKind == .directory { try descend(child) }
            }
        }
        try descend("")
    }

    /// Removes a tree without following links inside it: a link is removed, never what it points to.
    static func removeTree(_ path: String) throws {
        switch kind(path) {
        case .missing:
            return
        case .directory:
            for name in children(path) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 else {
                throw PaddockError.fileSystem(
                    path: path, message: "could not be removed: \(String(cString: strerror(errno)))")
            }
        case .file, .symbolicLink, .other:
            guard unlink(path) == 0 else {
                throw PaddockError.fileSystem(
                    path: path, message: "could not be removed: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Gives a tree to the sandbox user (when the host user differs, as root in CI does); links are not followed.
    static func changeOwner(_ path: String, uid: UInt32, gid: UInt32) throws {
        guard lchown(path, uid, gid) == 0 else {
            throw PaddockError.fileSystem(
                path: path, message: "could not change owner: \(String(cString: strerror(errno)))")
        }
        try walk(path) { relative, _ in
            let child = path + "/" + relative
            guard lchown(child, uid, gid) == 0 else {
                throw PaddockError.fileSystem(
                    path: child, message: "could not change owner: \(String(cString: strerror(errno)))")
            }
        }
    }
}
