import Foundation
import Testing

@testable import PaddockWorkspace

/// The scan lends itself access to a folder the agent locked. A second session's agent can swap that folder's name
/// for a link to one of the user's files between the scan's look and its chmod: the loan must land on the folder
/// it looked at, or nowhere.
@Suite("lending access acts on the folder looked at, never on what its name points to later")
struct LendAccessTests {
    @Test func aNameSwappedForALinkAfterTheLookGetsNoChmod() throws {
        let root = NSTemporaryDirectory() + "paddock-lend-\(UUID().uuidString)"
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: root + "/locked", withIntermediateDirectories: true)
        defer {
            chmod(root + "/locked-old", 0o700)
            try? fileManager.removeItem(atPath: root)
        }
        try Data("export PATH=...\n".utf8).write(to: URL(fileURLWithPath: root + "/bashrc"))
        chmod(root + "/bashrc", 0o600)
        chmod(root + "/locked", 0o300)
        let parent = open(root, O_RDONLY | O_DIRECTORY)
        defer { close(parent) }
        let looked = try RawDirectory.status(parent, RawPath("locked")).get()

        // The swap: the folder moves away and its name becomes a link to the user's file.
        #expect(rename(root + "/locked", root + "/locked-old") == 0)
        #expect(symlink(root + "/bashrc", root + "/locked") == 0)
        let result = RawDirectory.lendAccess(parent, RawPath("locked"), status: looked)
        if case .success(let descriptor) = result { close(descriptor) }
        #expect(throws: (any Error).self) { try result.get() }
        var info = stat()
        #expect(stat(root + "/bashrc", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600, "the user's file kept its mode")

        // A folder swapped for another folder is not the one looked at either.
        #expect(unlink(root + "/locked") == 0)
        try fileManager.createDirectory(atPath: root + "/locked", withIntermediateDirectories: false)
        chmod(root + "/locked", 0o300)
        #expect(throws: (any Error).self) {
            try RawDirectory.lendAccess(parent, RawPath("locked"), status: looked).get()
        }
        #expect(stat(root + "/locked", &info) == 0 && info.st_mode & 0o777 == 0o300)

        // The folder looked at is lent access, through its descriptor.
        chmod(root + "/locked", 0o700)
        #expect(rmdir(root + "/locked") == 0)
        #expect(rename(root + "/locked-old", root + "/locked") == 0)
        let lent = try RawDirectory.lendAccess(parent, RawPath("locked"), status: looked).get()
        close(lent)
        #expect(stat(root + "/locked", &info) == 0 && info.st_mode & 0o777 == 0o700)
        chmod(root + "/locked", 0o700)
        try fileManager.moveItem(atPath: root + "/locked", toPath: root + "/locked-old")
    }
}
