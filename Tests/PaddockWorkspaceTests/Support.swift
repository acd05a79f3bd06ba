import Foundation
import PaddockCore
import PaddockEngine
import PaddockWorkspace
import Testing

/// A scratch directory per test, named with the test's id so leftovers say where they came from.
final class TestDirectory: @unchecked Sendable {
    let id: String
    let path: String

    init(_ label: String) throws {
        id = "pw-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        // Canonical (no /tmp symlink games) because paddock compares canonical paths.
        let base = URL(fileURLWithPath: NSTemporaryDirectory()).resolvingSymlinksInPath().path
        path = base + "/" + id
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        // Clones may belong to the sandbox uid; root removes them regardless.
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs a shell script synchronously for test setup and checks; throws with its output when it fails.
@discardableResult
func sh(_ script: String, in directory: String? = nil, environment: [String: String] = [:]) throws -> String {
    let result = try execute(["sh", "-c", script], in: directory, environment: environment)
    guard result.status == 0 else {
        throw PaddockError.other("script failed (\(result.status)): \(script)\n\(result.output)")
    }
    return result.output
}

/// A host repository with two commits and an identity, as a user's project would be.
func makeRepository(_ path: String, files: [String: String] = ["README.md": "hello\n", "src/main.c": "int main;\n"])
    throws
{
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    try sh(
        "git init -q -b main . && git config user.name Host && git config user.email host@example.invalid", in: path)
    for (name, text) in files {
        let file = path + "/" + name
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: file).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
    }
    try sh("git add -A && git commit -q -m first && echo more >> README.md && git commit -qam second", in: path)
}

/// Commits inside a clone as the agent would (identity given on the command line: the clone has none).
func agentCommit(_ clone: String, file: String, text: String, message: String) throws {
    try sh(
        "printf '%s' \"$TEXT\" > \"$FILE\" && git add -A && git -c user.name=Agent -c user.email=agent@example.invalid "
            + "commit -q -m \"$MESSAGE\"",
        in: clone, environment: ["TEXT": text, "FILE": file, "MESSAGE": message])
}

func gitOutput(_ arguments: String, in directory: String) throws -> String {
    try sh("git " + arguments, in: directory).trimmingCharacters(in: .whitespacesAndNewlines)
}

func exists(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        || (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) != nil
}

func realGit() -> Git { Git(runner: SubprocessRunner()) }

/// Runs argv (no shell) and returns its status and combined output; for docker, whose exit status tests inspect.
func execute(_ argv: [String], in directory: String? = nil, environment: [String: String] = [:]) throws
    -> (status: Int32, output: String)
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = argv
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    var env = ProcessInfo.processInfo.environment
    for (key, value) in environment { env[key] = value }
    env["GIT_TERMINAL_PROMPT"] = "0"
    process.environment = env
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

#if canImport(Glibc)
    import Glibc

    // glibc exports the raw system calls; libcap's header is not needed for two functions.
    @_silgen_name("capget") private func capget(_ header: UnsafeMutableRawPointer, _ data: UnsafeMutableRawPointer)
        -> Int32
    @_silgen_name("capset") private func capset(_ header: UnsafeMutableRawPointer, _ data: UnsafeMutableRawPointer)
        -> Int32
#endif

/// Runs `body` with the file permissions of a plain user who owns the test's files. As root (as on CI), the calling
/// thread leaves CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER out of its effective set for the duration:
/// Linux capabilities belong to a thread, so other tests running meanwhile keep theirs. `body` must not suspend.
func asPlainOwner<T>(_ body: () throws -> T) throws -> T {
    #if canImport(Glibc)
        guard geteuid() == 0 else { return try body() }
        // struct __user_cap_header_struct { u32 version; int pid; } and two __user_cap_data_struct (version 3).
        var header: [UInt32] = [0x2008_0522, 0]
        var saved = [UInt32](repeating: 0, count: 6)
        guard capget(&header, &saved) == 0 else {
            throw PaddockError.other("capget: \(String(cString: strerror(errno)))")
        }
        var reduced = saved
        reduced[0] &= ~UInt32((1 << 1) | (1 << 2) | (1 << 3))
        guard capset(&header, &reduced) == 0 else {
            throw PaddockError.other("capset: \(String(cString: strerror(errno)))")
        }
        defer {
            var restored = saved
            if capset(&header, &restored) != 0 { fatalError("could not restore this thread's capabilities") }
        }
        return try body()
    #else
        return try body()
    #endif
}
