import Foundation
import PaddockEngine
import PaddockTestSupport
import Testing

@Suite("The launcher's own process")
struct HostProcessTests {
    /// Only what can give nothing counts as nothing: the null device and a closed descriptor. A pipe, a file
    /// (even an empty one, which may grow) and a terminal are forwarded.
    @Test func onlyTheNullDeviceAndAClosedDescriptorReadNothing() throws {
        let null = open("/dev/null", O_RDONLY)
        #expect(null >= 0)
        defer { close(null) }
        #expect(HostProcess.readsNothing(null))

        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        #expect(!HostProcess.readsNothing(ends[0]))
        close(ends[0])
        close(ends[1])
        #expect(HostProcess.readsNothing(ends[0]), "a closed descriptor")

        let file = NSTemporaryDirectory() + "paddock-empty-\(UUID().uuidString)"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let empty = open(file, O_RDONLY)
        defer { close(empty) }
        #expect(!HostProcess.readsNothing(empty))

        // /dev/zero is a character device too, and gives endless input.
        let zero = open("/dev/zero", O_RDONLY)
        defer { close(zero) }
        #expect(!HostProcess.readsNothing(zero))
    }
}

@Suite("Where the sandbox sees the host's inodes")
struct HostInodeTests {
    @Test func dockerOnlyOnThisMachinesOwnSocket() async {
        let runner = RecordingRunner()
        #expect(
            await DockerEngine(runner: runner, api: DockerAPI(socketPath: "/var/run/docker.sock"))
                .mountsShowHostInodes())
        // A docker context or a remote DOCKER_HOST leaves no local socket; Docker Desktop for Linux runs a VM.
        #expect(!(await DockerEngine(runner: runner, api: nil).mountsShowHostInodes()))
        #expect(
            !(await DockerEngine(runner: runner, api: DockerAPI(socketPath: "/home/u/.docker/desktop/docker.sock"))
                .mountsShowHostInodes()))
    }
}
