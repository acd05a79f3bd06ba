import Foundation
import PaddockCore
import Testing

/// `MountPolicy.findSocket` on a real file system, with real sockets.
@Suite("Sockets under a mount")
struct SocketSearchTests {
    /// Binds a unix socket at `path`, as an ssh-agent or an engine would, and leaves its file behind.
    private func makeSocket(at path: String) throws {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path))
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0, "bind \(path): errno \(errno)")
    }

    private func withFolder(_ body: (String) throws -> Void) throws {
        let root = "/tmp/paddock-sock-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root + "/a/b", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "x".write(toFile: root + "/a/file.txt", atomically: true, encoding: .utf8)
        try body(root)
    }

    @Test func aFolderWithoutSocketsHasNone() throws {
        try withFolder { root in
            #expect(MountPolicy.findSocket(at: root) == nil)
            #expect(MountPolicy.findSocket(at: root + "/a/file.txt") == nil)
            #expect(MountPolicy.findSocket(at: root + "/missing") == nil)
        }
    }

    @Test func aNestedSocketIsFound() throws {
        try withFolder { root in
            try makeSocket(at: root + "/a/b/agent.42")
            #expect(MountPolicy.findSocket(at: root) == root + "/a/b/agent.42")
            #expect(MountPolicy.findSocket(at: root + "/a/b/agent.42") == root + "/a/b/agent.42")
        }
    }

    @Test func aSymlinkToASocketFolderIsNotFollowedButTheResolvedPathIsSearched() throws {
        try withFolder { root in
            try makeSocket(at: root + "/a/b/agent.42")
            try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: root + "/a/b")
            // The planner resolves symlinks before it searches, so the folder it searches is the real one.
            let resolved = MountPolicy.resolve(root + "/link", home: "/home/u", relativeTo: "/")
            #expect(MountPolicy.findSocket(at: resolved) == root + "/a/b/agent.42")
        }
    }

    @Test func theSearchStopsAtItsLimit() throws {
        try withFolder { root in
            try makeSocket(at: root + "/a/b/agent.42")
            // Past its limit the search reports nothing: the named engine folders stay the rule, this the backstop.
            #expect(MountPolicy.findSocket(at: root, limit: 0) == nil)
        }
    }
}
