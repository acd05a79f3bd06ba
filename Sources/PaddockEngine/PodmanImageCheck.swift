import Foundation
import PaddockCore

/// Remembers what `podman image inspect` answered for an image, so a session start skips that call (60–110 ms of
/// Podman's own start-up) while nothing that could change the answer has changed. The answer is stamped with the
/// identity of the store's image list (Podman rewrites images.json on every pull, build, tag and removal) and of
/// every file and variable that could move the store; any difference, or a stamp that cannot be taken, asks
/// Podman again. A wrong answer could only name an image that is gone, and `run --pull never` fails on that
/// instead of fetching anything.
public struct PodmanImageCheck: Sendable {
    /// Where the answers live (paddock's state directory, which no sandbox sees).
    public var directory: String
    public var environment: [String: String]
    /// Podman's executable and global flags: part of the stamp, since another binary, `--root` or
    /// `--storage-driver` would mean another store.
    public var invocation: [String]

    public init(directory: String, environment: [String: String], invocation: [String]) {
        self.directory = directory
        self.environment = environment
        self.invocation = invocation
    }

    struct Answer: Codable, Equatable {
        var image: String
        var label: String
        var value: String
        var graphRoot: String
        var stamp: [String]
    }

    /// The remembered label value, when the stamp still matches; nil means "ask Podman".
    public func remembered(image: String, label: String) -> String? {
        guard let data = FileManager.default.contents(atPath: answerPath(image: image, label: label)),
            let answer = try? JSONDecoder().decode(Answer.self, from: data),
            answer.image == image, answer.label == label,
            let now = stamp(graphRoot: answer.graphRoot), now == answer.stamp
        else { return nil }
        return answer.value
    }

    /// Takes the stamp for the store at `graphRoot`: call before asking Podman, so a change while it answers
    /// makes the stored stamp stale rather than the answer.
    public func stamp(graphRoot: String) -> [String]? {
        let lists = Self.imageListNames.map { graphRoot + "/" + $0 }
        let listStamps = lists.map(Self.fileStamp)
        // No image list where the store should be: the layout is not one this knows, so nothing is remembered.
        guard listStamps.contains(where: { !$0.hasSuffix(" absent") }) else { return nil }
        let variables = Self.storeVariables.map { "\($0)=\(environment[$0] ?? "")" }
        let configuration = Self.configurationPaths(environment: environment).map(Self.fileStamp)
        return ["podman=" + invocation.joined(separator: " ")] + variables + configuration + listStamps
    }

    public func remember(image: String, label: String, value: String, graphRoot: String, stamp: [String]) {
        let answer = Answer(image: image, label: label, value: value, graphRoot: graphRoot, stamp: stamp)
        guard let data = try? JSONEncoder().encode(answer) else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? data.write(to: URL(fileURLWithPath: answerPath(image: image, label: label)), options: .atomic)
    }

    func answerPath(image: String, label: String) -> String {
        directory + "/" + Hashing.sha256Hex(image + "\u{0}" + label).prefix(32) + ".json"
    }

    /// containers/storage keeps one image list per driver.
    static let imageListNames = [
        "overlay-images/images.json", "vfs-images/images.json", "btrfs-images/images.json", "zfs-images/images.json",
    ]

    static let storeVariables = [
        "CONTAINERS_STORAGE_CONF", "CONTAINERS_CONF", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "HOME",
    ]

    /// Every storage.conf containers/storage may read, rootless and system-wide.
    static func configurationPaths(environment: [String: String]) -> [String] {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let configHome = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? home + "/.config"
        var paths = [
            configHome + "/containers/storage.conf", "/etc/containers/storage.conf",
            "/usr/share/containers/storage.conf", "/etc/containers/storage.conf.d",
            configHome + "/containers/storage.conf.d",
        ]
        if let named = environment["CONTAINERS_STORAGE_CONF"], !named.isEmpty { paths.insert(named, at: 0) }
        return paths
    }

    /// Device, inode, size and modification time to the nanosecond: a rewrite by rename or in place changes one.
    static func fileStamp(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "\(path) absent" }
        #if os(Linux)
            let modified = "\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        #else
            let modified = "\(info.st_mtimespec.tv_sec).\(info.st_mtimespec.tv_nsec)"
        #endif
        return "\(path) \(info.st_dev) \(info.st_ino) \(info.st_size) \(modified)"
    }
}
