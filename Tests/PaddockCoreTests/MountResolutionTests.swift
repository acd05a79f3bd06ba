import Foundation
import PaddockCore
import Testing

/// Real folders and links on disk: what the kernel would follow, and which mounts the agent could redirect.
@Suite("Mounts resolved as the kernel resolves them, refused when the agent can redirect them")
struct MountResolutionTests {
    let root: String
    var home: String { root + "/home" }
    var project: String { home + "/code/app" }
    var paths: PaddockPaths {
        PaddockPaths(
            home: home, configDirectory: home + "/.config/paddock", stateDirectory: home + "/.local/state/paddock")
    }

    init() throws {
        // Resolved once so that a temporary folder behind a link (macOS's /var) does not confuse the expectations.
        root = PathResolution.resolve(NSTemporaryDirectory()).real + "/paddock-mounts-\(UUID().uuidString)"
        for folder in [project + "/data", home + "/.claude", home + "/cache", home + "/datasets", home + "/outside"] {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        try "token".write(toFile: home + "/.claude/.credentials.json", atomically: true, encoding: .utf8)
    }

    func link(_ path: String, to target: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
    }

    func plan(_ mounts: [MountConfig], workspaces: [String] = [], mountsProject: Bool = true, dangerous: Bool = false)
        throws -> ContainerSpec
    {
        var config = PaddockConfig()
        config.mounts = mounts
        var request = SessionRequest(
            sessionID: try #require(SessionID("20261121-0521-k3f9")), projectRoot: project,
            workspaceSource: mountsProject ? project : nil,
            hostHome: home, hostUID: 1000, hostGID: 1000, launcherPID: 1, config: config, profile: .shell,
            allowDangerousMounts: dangerous, imageTag: "t", paths: paths)
        request.workspaces = workspaces
        return try SessionPlanner.plan(request, socketInside: { _ in nil }) {
            FileManager.default.fileExists(atPath: $0)
        }
    }

    func expectRefused(_ mounts: [MountConfig], workspaces: [String] = [], mountsProject: Bool = true, through: String)
    {
        for dangerous in [false, true] {
            let error = #expect(throws: PaddockError.self) {
                try plan(mounts, workspaces: workspaces, mountsProject: mountsProject, dangerous: dangerous)
            }
            guard case .redirectableMount(_, let entry, _) = error else {
                Issue.record("expected a refusal, got \(String(describing: error))")
                return
            }
            #expect(entry == through)
            #expect(error?.exitCode == 77)
        }
    }

    @Test func theKernelsResolutionIsFollowedEntryByEntry() throws {
        try link(home + "/alias", to: "datasets")
        try link(home + "/chain", to: home + "/alias/../.claude")
        let resolution = PathResolution.resolve(home + "/chain/.credentials.json")
        #expect(resolution.real == home + "/.claude/.credentials.json")
        #expect(resolution.exists)
        #expect(resolution.entries.contains(home + "/chain"))
        #expect(resolution.entries.contains(home + "/alias"))
        #expect(resolution.entries.contains(home + "/datasets"), "`..` after a link is taken from where it leads")
        try link(home + "/loop", to: home + "/loop")
        #expect(!PathResolution.resolve(home + "/loop").exists)
        #expect(PathResolution.resolve(home + "/missing/x").real == home + "/missing/x")
    }

    /// `./data` is in the project, which the agent writes: it can swap it for a link between sessions.
    @Test func aMountInsideTheProjectIsRefusedEvenBeforeTheAgentTouchedIt() {
        expectRefused([MountConfig(path: "./data")], through: project + "/data")
        expectRefused([MountConfig(path: "./data", readWrite: true)], through: project + "/data")
    }

    @Test func aLinkTheAgentPlantedInTheProjectIsNotFollowed() throws {
        try link(project + "/data", to: home + "/.claude")
        expectRefused([MountConfig(path: "./data")], through: project + "/data")
        expectRefused([MountConfig(path: project + "/data/../../../outside")], through: project + "/data")
    }

    @Test func aPathThroughAReadWriteMountIsRefused() throws {
        try link(home + "/cache/link", to: home + "/.claude")
        expectRefused(
            [MountConfig(path: "~/cache", readWrite: true), MountConfig(path: "~/cache/link")],
            through: home + "/cache/link")
        try link(home + "/elsewhere", to: home + "/cache/inner")
        try FileManager.default.createDirectory(atPath: home + "/cache/inner", withIntermediateDirectories: true)
        expectRefused(
            [MountConfig(path: "~/cache", readWrite: true), MountConfig(path: "~/elsewhere")],
            through: home + "/cache/inner")
    }

    @Test func aWorkspaceInsideAnotherIsRefused() throws {
        try FileManager.default.createDirectory(atPath: home + "/api/vendor", withIntermediateDirectories: true)
        expectRefused(
            [], workspaces: [home + "/api", home + "/api/vendor"], mountsProject: false, through: home + "/api/vendor")
        // Side by side in a folder that is not mounted itself: what --repo is for.
        try FileManager.default.createDirectory(atPath: project + "/web", withIntermediateDirectories: true)
        let spec = try plan([], workspaces: [project + "/data", project + "/web"], mountsProject: false)
        #expect(spec.mounts.first?.kind == .volume)
    }

    /// Folders the agent cannot write are mounted by their real path, links of the user's own included.
    @Test func theEngineGetsTheRealPath() throws {
        try link(home + "/alias", to: home + "/datasets")
        let spec = try plan([
            MountConfig(path: "~/alias"), MountConfig(path: "~/outside", target: "/out", readWrite: true),
        ])
        #expect(spec.mounts.contains(.bind(home + "/datasets", at: "/mnt/datasets", readOnly: true)))
        #expect(spec.mounts.contains(.bind(home + "/outside", at: "/out", readOnly: false)))
    }
}
