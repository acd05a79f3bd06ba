import PaddockCore
import Testing

/// The host layouts paddock meets, as /proc/self/mountinfo prints them. The hybrid one is this CI machine's own.
@Suite("cgroup layout: read from mountinfo, and what it means for rootless Podman")
struct CgroupLayoutTests {
    static let hybridMountinfo = """
        23 1 0:21 / / rw,relatime - overlay overlay rw
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
    static let unifiedMountinfo = """
        23 1 0:21 / / rw,relatime - ext4 /dev/sda1 rw
        30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
        """
    static let legacyMountinfo = """
        31 23 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
        32 31 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        """

    func controllers(_ files: [String: String]) -> (String) -> String? { { files[$0] } }

    @Test func hybridWithAStrayControllerIsWhatCrunRefuses() {
        let layout = CgroupLayout.parse(
            mountinfo: Self.hybridMountinfo,
            controllers: controllers(["/sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n"]))
        #expect(layout == .hybrid(cgroup2Mount: "/sys/fs/cgroup/unified", cgroup2Controllers: ["hugetlb"]))
        #expect(layout.crunRefuses)
        #expect(!layout.rootlessLimitsEnforced)
        #expect(
            layout.summary == "hybrid (cgroup v1 controllers, and cgroup2 at /sys/fs/cgroup/unified holding hugetlb)")
    }

    /// The machine where the suite passed before: the same mounts, an empty cgroup2 tree, which crun accepts.
    @Test func hybridWithAnEmptyCgroup2TreeStartsWithCrun() {
        let layout = CgroupLayout.parse(
            mountinfo: Self.hybridMountinfo,
            controllers: controllers(["/sys/fs/cgroup/unified/cgroup.controllers": "\n"]))
        #expect(layout == .hybrid(cgroup2Mount: "/sys/fs/cgroup/unified", cgroup2Controllers: []))
        #expect(!layout.crunRefuses)
        #expect(PodmanRuntimeChoice.choose(layout: layout, runcPath: nil) == .engineDefault)
    }

    @Test func unifiedAndLegacy() {
        let unified = CgroupLayout.parse(mountinfo: Self.unifiedMountinfo, controllers: controllers([:]))
        #expect(unified == .unified)
        #expect(unified.rootlessLimitsEnforced && !unified.crunRefuses)
        let legacy = CgroupLayout.parse(mountinfo: Self.legacyMountinfo, controllers: controllers([:]))
        #expect(legacy == .legacy)
        #expect(!legacy.rootlessLimitsEnforced && !legacy.crunRefuses)
        #expect(
            CgroupLayout.parse(mountinfo: "23 1 0:21 / / rw - ext4 /dev/sda1 rw", controllers: controllers([:]))
                == .unknown)
    }

    /// The last mount at a point is the one in force: cgroup2 mounted over the tmpfs makes the host unified.
    @Test func theLastMountAtAPointWins() {
        let over = Self.hybridMountinfo + "\n50 23 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw"
        #expect(CgroupLayout.parse(mountinfo: over, controllers: controllers([:])) == .unified)
    }

    @Test func mountPointsWithOctalEscapes() {
        let info = """
            31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
            32 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
            41 31 0:38 / /sys/fs/cgroup/uni\\040fied rw - cgroup2 cgroup2 rw
            """
        let layout = CgroupLayout.parse(
            mountinfo: info, controllers: controllers(["/sys/fs/cgroup/uni fied/cgroup.controllers": "hugetlb rdma"]))
        #expect(layout == .hybrid(cgroup2Mount: "/sys/fs/cgroup/uni fied", cgroup2Controllers: ["hugetlb", "rdma"]))
    }

    @Test func runcWhereCrunRefusesElseARefusalThatNamesTheFixes() throws {
        let layout = CgroupLayout.hybrid(cgroup2Mount: "/sys/fs/cgroup/unified", cgroup2Controllers: ["hugetlb"])
        let runc = PodmanRuntimeChoice.choose(layout: layout, runcPath: "/usr/sbin/runc")
        #expect(runc == .runc(path: "/usr/sbin/runc"))
        #expect(runc.globalArguments == ["--runtime", "/usr/sbin/runc"])
        #expect(PodmanRuntimeChoice.choose(layout: .unified, runcPath: "/usr/sbin/runc") == .engineDefault)
        #expect(PodmanRuntimeChoice.engineDefault.globalArguments == [])

        guard case .refused(let error) = PodmanRuntimeChoice.choose(layout: layout, runcPath: nil) else {
            Issue.record("no runc on a host crun refuses must refuse")
            return
        }
        #expect(error.exitCode == 69)
        let message = error.description
        #expect(message.contains("Nothing was started"))
        #expect(message.contains("sudo apt-get install runc"))
        #expect(
            message.contains(
                "sudo mkdir -p /sys/fs/cgroup/hugetlb && sudo mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb")
        )
        #expect(message.contains("systemd.unified_cgroup_hierarchy=1"))
    }
}
