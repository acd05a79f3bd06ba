import Foundation
import PaddockCore
import PaddockEngine

#if canImport(Glibc)
    import Glibc
#endif

/// A test's own origin on 127.0.0.1: a static HTTP server (Python's, from the machine) over a folder, with a git
/// repository served over git's "dumb" HTTP protocol. Nothing leaves the machine.
public final class OriginServer: @unchecked Sendable {
    public let port: Int
    public let root: String
    private let process: Process

    /// Serves `root` (created with `hello.txt` and `repo.git`) on a free loopback port.
    public static func start(root: String) async throws -> OriginServer {
        let runner = SubprocessRunner()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try "hello from origin\n".write(toFile: root + "/hello.txt", atomically: true, encoding: .utf8)
        let script = """
            set -e
            rm -rf src repo.git
            git init -q -b main src
            echo 'cloned through the gateway' > src/README
            git -C src add README
            git -C src -c user.email=o@o -c user.name=o commit -q -m origin
            git clone -q --bare src repo.git
            git -C repo.git update-server-info
            rm -rf src
            """
        let command = Command("sh", ["-c", script], workingDirectory: root)
        try await runner.capture(command).check(command)

        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-u", "-c",
            """
            import http.server, functools, sys
            handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
            handler.log_message = lambda *args: None
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
            print(server.server_address[1], flush=True)
            server.serve_forever()
            """,
            root,
        ]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let line = Self.readLine(output.fileHandleForReading.fileDescriptor)
        guard let port = Int(line.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw PaddockError.other("The test origin did not start (python3 printed \(line.debugDescription)).")
        }
        return OriginServer(port: port, root: root, process: process)
    }

    private init(port: Int, root: String, process: Process) {
        self.port = port
        self.root = root
        self.process = process
    }

    /// One line from a pipe, byte by byte: Foundation's `availableData` can wait for the end of the stream.
    static func readLine(_ descriptor: Int32) -> String {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < 64, read(descriptor, &byte, 1) == 1, byte != UInt8(ascii: "\n") {
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// SIGKILL: a child of the test runner may inherit a blocked SIGTERM and never see `terminate()`.
    public func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
