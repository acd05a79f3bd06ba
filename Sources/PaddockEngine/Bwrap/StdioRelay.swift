import Foundation
import PaddockCore

#if canImport(Glibc)
    import Glibc
#endif

/// Copies between the launcher's standard descriptors and the sandbox where they are regular files. A bwrap
/// sandbox would otherwise hold the launcher's own descriptors, and a descriptor for a file can be reopened
/// through /proc/self/fd with any access the file's mode allows: the agent could truncate the log the user sends
/// output to, read what it held before, or write into the file the user fed as input. Terminals and pipes are
/// passed as they are: the agent is meant to have the terminal, and a pipe reopened is the same pipe.
final class StdioRelay: @unchecked Sendable {
    /// The descriptors to hand the child instead of 0, 1 and 2, where one is relayed.
    private(set) var childDescriptors: [(child: Int32, parent: Int32)] = []
    private var threads: [Thread] = []
    private let done = DispatchGroup()

    /// Pure: which of the standard descriptors are regular files, judged by fstat's mode bits.
    static func needsRelay(mode: mode_t) -> Bool { mode & S_IFMT == S_IFREG }

    init() throws {
        #if os(Linux)
            for descriptor: Int32 in [0, 1, 2] {
                var status = stat()
                guard fstat(descriptor, &status) == 0, Self.needsRelay(mode: status.st_mode) else { continue }
                var ends: [Int32] = [0, 0]
                let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                guard socketpair(AF_UNIX, type, 0, &ends) == 0 else {
                    let reason = String(cString: strerror(errno))
                    // The copies already started end when their child ends close.
                    childStarted()
                    throw PaddockError.other(
                        "cannot create a socket pair for the sandbox's output (\(reason)); close other programs' files and try again."
                    )
                }
                // ends[0] goes to the child; ends[1] stays here.
                let (childEnd, ownEnd) = (ends[0], ends[1])
                childDescriptors.append((descriptor, childEnd))
                if descriptor == 0 {
                    _ = shutdown(childEnd, Int32(SHUT_WR))
                    // Not waited for: the sandbox may never read it all; its exit ends the copy (EPIPE).
                    start(waited: false) {
                        Self.copy(from: 0, to: ownEnd, toSocket: true)
                        close(ownEnd)
                    }
                } else {
                    _ = shutdown(childEnd, Int32(SHUT_RD))
                    start(waited: true) {
                        Self.copy(from: ownEnd, to: descriptor, toSocket: false)
                        close(ownEnd)
                    }
                }
            }
        #endif
    }

    private func start(waited: Bool, _ body: @escaping @Sendable () -> Void) {
        if waited { done.enter() }
        let thread = Thread { [done] in
            body()
            if waited { done.leave() }
        }
        thread.name = "paddock-stdio"
        threads.append(thread)
        thread.start()
    }

    /// Closes this process's copies of the child's ends (once the child holds its own), so end of output is seen.
    func childStarted() {
        for entry in childDescriptors { close(entry.parent) }
        childDescriptors = []
    }

    /// Waits until what the sandbox wrote has reached the launcher's files. Output ends when the last process
    /// inside closes it, which bwrap's pid namespace ensures once the sandbox is gone.
    func drain() {
        #if os(Linux)
            done.wait()
        #endif
    }

    #if os(Linux)
        /// Until end of input or a failed write; to a socket without SIGPIPE (the sandbox may stop reading).
        static func copy(from source: Int32, to target: Int32, toSocket: Bool) {
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return }
                var written = 0
                while written < count {
                    let result = buffer[written..<count].withUnsafeBytes { bytes in
                        toSocket
                            ? send(target, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
                            : write(target, bytes.baseAddress, bytes.count)
                    }
                    if result < 0, errno == EINTR { continue }
                    guard result > 0 else { return }
                    written += result
                }
            }
        }
    #endif
}
