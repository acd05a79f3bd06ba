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
        let result = try run(MountIdentityCheck.wrap(["/bin/echo", "agent ran"], identities: identities))
        #expect(result.status == 0 && result.output == "agent ran\n", "\(result)")
    }

    @Test func aFolderSwappedForALinkAfterTheCheckStopsTheSandboxBeforeTheAgent() throws {
        let identities = try MountIdentities.capture(mounts())
        let objects = root + "/project/.git/objects"
        try FileManager.default.moveItem(atPath: objects, toPath: root + "/objects-moved")
        try FileManager.default.createSymbolicLink(atPath: objects, withDestinationPath: root + "/secret")
        let result = try run(MountIdentityCheck.wrap(["/bin/echo", "agent ran"], identities: identities))
        #expect(result.status == MountIdentityCheck.changedStatus, "\(result)")
        #expect(!result.output.contains("agent ran"))
        #expect(result.output.contains("not the one paddock checked"))
    }

    @Test func anotherRealFolderInItsPlaceIsCaughtToo() throws {
        let identities = try MountIdentities.capture(mounts())
        let objects = root + "/project/.git/objects"
        try FileManager.default.moveItem(atPath: objects, toPath: root + "/objects-moved")
        try FileManager.default.moveItem(atPath: root + "/secret", toPath: objects)
        let result = try run(MountIdentityCheck.wrap(["/bin/echo", "agent ran"], identities: identities))
        #expect(result.status == MountIdentityCheck.changedStatus && !result.output.contains("agent ran"))
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
