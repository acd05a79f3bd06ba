import Foundation
import PaddockCore
import Testing

@testable import PaddockSession

/// Attack: an agent of another session that can write a parent folder of this session's mounts swaps one of them
/// for a link (to ~/.ssh, say) after paddock checked it and before the engine mounts it. The sandbox compares
/// each mount with what paddock found and stops before the agent; a swap already made is refused at the start.
@Suite("Mounts are what paddock checked")
final class MountIdentityTests {
    let root: String

    init() throws {
        root = NSTemporaryDirectory() + "paddock-mounts-" + String(UUID().uuidString.prefix(8)).lowercased()
        for folder in ["project/.git/objects", "secret"] {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
        }
        #expect(FileManager.default.createFile(atPath: root + "/secret/id_ed25519", contents: Data("key".utf8)))
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// A mount table listing `points` as mount points, as the sandbox's /proc/self/mountinfo would.
    func table(_ points: [String]) throws -> String {
        let path = root + "/mountinfo"
        let lines = points.enumerated().map { index, point in
            "\(index + 30) 29 0:\(index) / \(MountIdentityCheck.escapedAsInMountTable(point)) rw - ext4 /dev/x rw\n"
        }
        try ("28 1 0:1 / / rw - overlay overlay rw\n" + lines.joined()).write(
            toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The wrapped command as the sandbox would run it: every bind target listed as a mount point.
    func wrapped(_ identities: [MountIdentityCheck.Identity], mountPoints: [String]? = nil) throws -> [String] {
        MountIdentityCheck.wrap(
            ["/bin/echo", "agent ran"], identities: identities,
            table: try table(mountPoints ?? identities.map(\.target)))
    }

    /// Runs the wrapped command with the host's /bin/sh, the host paths standing in for the targets.
    func run(_ argv: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    func mounts() -> [Mount] {
        [
            .bind(root + "/project", at: root + "/project", readOnly: false),
            .bind(root + "/project/.git/objects", at: root + "/project/.git/objects", readOnly: false),
            Mount(kind: .volume, source: "home", target: "/home/agent", readOnly: false),
        ]
    }

    @Test func unchangedMountsLetTheCommandRun() throws {
        let identities = try MountIdentities.capture(mounts())
        #expect(identities.map(\.target) == [root + "/project", root + "/project/.git/objects"], "binds only")
        let result = try run(try wrapped(identities))
        #expect(result.status == 0 && result.output == "agent ran\n", "\(result)")
    }

    @Test func aFolderSwappedForALinkAfterTheCheckStopsTheSandboxBeforeTheAgent() throws {
        let identities = try MountIdentities.capture(mounts())
        let objects = root + "/project/.git/objects"
        try FileManager.default.moveItem(atPath: objects, toPath: root + "/objects-moved")
        try FileManager.default.createSymbolicLink(atPath: objects, withDestinationPath: root + "/secret")
        let result = try run(try wrapped(identities))
        #expect(result.status == MountIdentityCheck.changedStatus, "\(result)")
        #expect(!result.output.contains("agent ran"))
        #expect(result.output.contains("not the one paddock checked"))
    }

    @Test func anotherRealFolderInItsPlaceIsCaughtToo() throws {
        let identities = try MountIdentities.capture(mounts())
        let objects = root + "/project/.git/objects"
        try FileManager.default.moveItem(atPath: objects, toPath: root + "/objects-moved")
        try FileManager.default.moveItem(atPath: root + "/secret", toPath: objects)
        let result = try run(try wrapped(identities))
        #expect(result.status == MountIdentityCheck.changedStatus && !result.output.contains("agent ran"))
    }

    /// Review: the other agent plants a link in the target's path, the engine follows it and mounts elsewhere,
    /// then the link is put back: the target shows the original folder through its parent, with the right inode,
    /// but it is no mount point of its own.
    @Test func aTargetThatIsNoMountPointOfItsOwnFailsTheCheck() throws {
        let identities = try MountIdentities.capture(mounts())
        let elsewhere = [root + "/project", root + "/secret"]
        let result = try run(try wrapped(identities, mountPoints: elsewhere))
        #expect(result.status == MountIdentityCheck.changedStatus && !result.output.contains("agent ran"), "\(result)")
    }

    @Test func targetsWithSpacesAreFoundInTheMountTable() throws {
        let spaced = root + "/project/with space"
        try FileManager.default.createDirectory(atPath: spaced, withIntermediateDirectories: true)
        let identities = try MountIdentities.capture([.bind(spaced, at: spaced, readOnly: true)])
        let result = try run(try wrapped(identities))
        #expect(result.status == 0 && result.output == "agent ran\n", "\(result)")
        #expect(MountIdentityCheck.escapedAsInMountTable("/a b\\c") == "/a\\040b\\134c")
    }

    /// A target written `/data/` or `//data` is listed by the kernel as `/data`: the check finds it.
    @Test func targetsAreLookedUpAsTheKernelListsThem() throws {
        let identities = try MountIdentities.capture(mounts()).map { identity -> MountIdentityCheck.Identity in
            var written = identity
            written.target = "/" + identity.target + "/./"
            return written
        }
        let result = try run(
            MountIdentityCheck.wrap(
                ["/bin/echo", "agent ran"], identities: identities,
                table: try table(try MountIdentities.capture(mounts()).map(\.target))))
        #expect(result.status == 0 && result.output == "agent ran\n", "\(result)")
        #expect(MountIdentityCheck.canonical("//data/./x/") == "/data/x")
    }

    /// A link in the path of the user's own folder (a linked home) is followed, once; below it nothing may be one.
    @Test func aLinkInTheUsersOwnFolderIsFollowedButNotBelowIt() throws {
        let home = root + "/linked-home"
        try FileManager.default.createSymbolicLink(atPath: home, withDestinationPath: root + "/project")
        let through = home + "/.git/objects"
        #expect(MountIdentities.identity(of: through) == nil)
        let identity = try #require(MountIdentities.identity(of: through, linkedPrefixes: [home]))
        let direct = try #require(MountIdentities.identity(of: root + "/project/.git/objects"))
        #expect(identity.0 == direct.0 && identity.1 == direct.1)
        try FileManager.default.createSymbolicLink(
            atPath: root + "/project/link", withDestinationPath: root + "/secret")
        #expect(MountIdentities.identity(of: home + "/link", linkedPrefixes: [home]) == nil)
    }

    @Test func aSwapBeforeTheCheckIsRefusedAtTheStart() throws {
        // A link anywhere on the path, not only at its end.
        try FileManager.default.moveItem(atPath: root + "/project/.git", toPath: root + "/git-moved")
        try FileManager.default.createSymbolicLink(
            atPath: root + "/project/.git", withDestinationPath: root + "/secret")
        try FileManager.default.createDirectory(atPath: root + "/secret/objects", withIntermediateDirectories: true)
        #expect(throws: PaddockError.self) { try MountIdentities.capture(mounts()) }
        #expect(MountIdentities.identity(of: root + "/project/.git/objects") == nil)
        #expect(MountIdentities.identity(of: root + "/project/../secret") == nil)
        #expect(MountIdentities.identity(of: "relative/path") == nil)
    }

    @Test func targetsAreQuotedForTheShell() {
        let argv = MountIdentityCheck.wrap(
            ["agent"], identities: [.init(target: "/data/it's here", device: 1, inode: 2)])
        #expect(argv[2].contains("-- '/data/it'\\''s here'"), "\(argv[2])")
        #expect(argv[2].contains("!= '1:2'"))
        #expect(Array(argv.suffix(2)) == ["paddock-mounts", "agent"])
        #expect(MountIdentityCheck.wrap(["agent"], identities: []) == ["agent"])
    }
}
