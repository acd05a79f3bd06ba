import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A host path resolved the way the kernel resolves it, one component at a time, remembering every directory entry
/// it looked up on the way. Whoever can change one of those entries (rename it, swap it for a link) decides where
/// the path leads, so a mount is judged by the entries, not only by where it happens to lead today.
public struct PathResolution: Equatable, Sendable {
    /// The real path: absolute, no `.`, `..` or links. For a path that does not exist, the real part followed by
    /// the rest as written.
    public var real: String
    /// Every entry looked up, each as its real parent plus its name, in order; the links among them included.
    public var entries: [String]
    public var exists: Bool

    public init(real: String, entries: [String], exists: Bool) {
        self.real = real
        self.entries = entries
        self.exists = exists
    }

    /// At most this many links are followed, as the kernel's own limit.
    static let linkLimit = 40

    /// Resolves an absolute `path` on this machine. `readLink` answers for an entry: nil when it is no link, the
    /// link's text otherwise; `exists` whether the entry is there at all.
    public static func resolve(
        _ path: String, readLink: (String) -> String? = Self.linkText, exists: (String) -> Bool = Self.entryExists
    ) -> PathResolution {
        var pending = ArraySlice(components(path))
        var current = ""  // "" is "/"
        var entries: [String] = []
        var links = 0
        while let name = pending.popFirst() {
            switch name {
            case ".": continue
            case "..":
                current = (current as NSString).deletingLastPathComponent
                if current == "/" { current = "" }
                continue
            default: break
            }
            let entry = current + "/" + name
            entries.append(entry)
            if let target = readLink(entry) {
                links += 1
                guard links <= linkLimit else {
                    return PathResolution(
                        real: ([entry] + pending).joined(separator: "/"), entries: entries, exists: false)
                }
                if target.hasPrefix("/") { current = "" }
                pending = ArraySlice(components(target) + pending)
                continue
            }
            guard exists(entry) else {
                let rest = pending.filter { $0 != "." }
                return PathResolution(real: ([entry] + rest).joined(separator: "/"), entries: entries, exists: false)
            }
            current = entry
        }
        return PathResolution(real: current.isEmpty ? "/" : current, entries: entries, exists: true)
    }

    static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

}
