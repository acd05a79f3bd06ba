/// How the host mounts its cgroups, read from /proc/self/mountinfo: what decides whether rootless Podman can
/// enforce limits, and whether crun (Podman's default runtime) starts containers at all.
public enum CgroupLayout: Equatable, Sendable {
    /// cgroup2 alone at /sys/fs/cgroup.
    case unified
    /// v1 controller hierarchies beside a cgroup2 tree, with the controllers the cgroup2 tree holds. crun refuses
    /// such a host when that list is not empty ("cgroups in hybrid mode not supported, drop all controllers from
    /// cgroupv2"); runc runs on it.
    case hybrid(cgroup2Mount: String, cgroup2Controllers: [String])
    /// v1 hierarchies only.
    case legacy
    /// No cgroup file system at /sys/fs/cgroup (not Linux, or an unusual host).
    case unknown

    static let root = "/sys/fs/cgroup"

    /// Pure: `mountinfo` is /proc/self/mountinfo's text, `controllers` reads a cgroup2 mount's
    /// `cgroup.controllers` (nil when unreadable).
    public static func parse(mountinfo: String, controllers: (String) -> String?) -> CgroupLayout {
        // The last mount at a point is the visible one.
        var typeAt: [String: String] = [:]
        var cgroup2Mounts: [String] = []
        for line in mountinfo.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count >= 2 else { continue }
            let fields = halves[0].split(separator: " ")
            guard fields.count >= 5, let type = halves[1].split(separator: " ").first.map(String.init) else { continue }
            let point = unescapeMountPoint(String(fields[4]))
            typeAt[point] = type
            if type == "cgroup2", point == root || point.hasPrefix(root + "/") {
                cgroup2Mounts.removeAll { $0 == point }
                cgroup2Mounts.append(point)
            }
        }
        guard let rootType = typeAt[root] else { return .unknown }
        if rootType == "cgroup2" { return .unified }
        let hasV1 = typeAt.contains { $0.value == "cgroup" && $0.key.hasPrefix(root + "/") }
        guard let unified = cgroup2Mounts.last(where: { typeAt[$0] == "cgroup2" }) else {
            return hasV1 ? .legacy : .unknown
        }
        let listed = controllers(unified + "/cgroup.controllers") ?? ""
        return .hybrid(
            cgroup2Mount: unified,
            cgroup2Controllers: listed.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    /// mountinfo writes space, tab, newline and backslash in mount points as three octal digits.
    static func unescapeMountPoint(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        let raw = Array(text.utf8)
        var bytes: [UInt8] = []
        var index = 0
        while index < raw.count {
            if raw[index] == UInt8(ascii: "\\"), index + 3 < raw.count,
                let value = UInt8(String(decoding: raw[(index + 1)...(index + 3)], as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(raw[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// crun's refusal, predicted: a hybrid host whose cgroup2 tree holds a controller.
    public var crunRefuses: Bool {
        if case .hybrid(_, let controllers) = self { return !controllers.isEmpty }
        return false
    }

    /// Rootless containers get limits only through a delegated cgroup2 tree.
    public var rootlessLimitsEnforced: Bool { self == .unified }

    /// For messages: "hybrid (cgroup v1 controllers, and cgroup2 at /sys/fs/cgroup/unified holding hugetlb)".
    public var summary: String {
        switch self {
        case .unified: return "cgroup v2 (unified)"
        case .legacy: return "cgroup v1"
        case .unknown: return "no cgroup file system at \(Self.root)"
        case .hybrid(let mount, let controllers):
            let holding = controllers.isEmpty ? "with no controllers" : "holding \(controllers.joined(separator: " "))"
            return "hybrid (cgroup v1 controllers, and cgroup2 at \(mount) \(holding))"
        }
    }
}

/// The OCI runtime paddock runs rootless Podman with on this host.
public enum PodmanRuntimeChoice: Equatable, Sendable {
    /// Podman's own (crun on most distributions).
    case engineDefault
    /// crun would refuse this host; runc, found at `path`, runs on it.
    case runc(path: String)
    /// Nothing here starts a container: the error names the fix. Raised before anything starts.
    case refused(PaddockError)

    /// Pure: on a hybrid host with controllers in cgroup2, runc when installed, else a refusal naming the fixes.
    public static func choose(layout: CgroupLayout, runcPath: String?) -> PodmanRuntimeChoice {
        guard layout.crunRefuses, case .hybrid(let mount, let controllers) = layout else { return .engineDefault }
        if let runcPath { return .runc(path: runcPath) }
        let mounts = controllers.map {
            "sudo mkdir -p \(CgroupLayout.root)/\($0) && sudo mount -t cgroup -o \($0) cgroup \(CgroupLayout.root)/\($0)"
        }
        return .refused(
            .engineCannotStart(
                engine: "Podman",
                detail: """
                    this host's cgroups are \(layout.summary), and crun, Podman's runtime, refuses to start any \
                    container on such a host. Nothing was started. Fix one of: install runc \
                    (`sudo apt-get install runc`; paddock then runs Podman with it); or give the stray \
                    controller\(controllers.count == 1 ? "" : "s") in \(mount) a v1 hierarchy of \
                    \(controllers.count == 1 ? "its" : "their") own (\(mounts.joined(separator: "; "))); or boot \
                    with `systemd.unified_cgroup_hierarchy=1` for cgroup v2 alone.
                    """))
    }

    /// Podman's global options for this choice.
    public var globalArguments: [String] {
        if case .runc(let path) = self { return ["--runtime", path] }
        return []
    }
}
