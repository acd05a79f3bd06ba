import Foundation
import PaddockCore

#if canImport(Glibc)
    import Glibc
#endif

/// Starts a child with exactly the descriptors it should have, in its own process group, with default signal
/// handling, and waits for it — on one dedicated thread, because bwrap's `--die-with-parent` is a parent-death
/// signal tied to the *thread* that spawned it: a pooled thread that retires would kill the sandbox.
enum HostSpawn {
    struct Child: Sendable {
        var pid: Int32
    }

    /// `descriptors` maps a descriptor number in the child to a descriptor open in this process. Everything else
    /// above stderr is closed in the child, so no descriptor of the launcher's can leak into a sandbox.
    static func run(
        executable: String, arguments: [String], environment: [String], descriptors: [(child: Int32, parent: Int32)],
        started: @escaping @Sendable (Child) -> Void
    ) async throws -> Int32 {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                #if os(Linux)
                    let pid: Int32
                    do {
                        pid = try spawn(
                            executable: executable, arguments: arguments, environment: environment,
                            descriptors: descriptors)
                    } catch {
                        continuation.resume(throwing: error)
                        return
                    }
                    started(Child(pid: pid))
                    continuation.resume(returning: wait(pid: pid))
                #else
                    continuation.resume(
                        throwing: PaddockError.invalidArgument(
                            "bubblewrap runs on Linux only; use --engine docker or podman."))
                #endif
            }
            thread.name = "paddock-sandbox"
            thread.start()
        }
    }

    #if os(Linux)
        static func spawn(
            executable: String, arguments: [String], environment: [String], descriptors: [(child: Int32, parent: Int32)]
        ) throws -> Int32 {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }

            // The parent descriptors are moved above every target first, so no dup2 can clobber a later source.
            let highest = descriptors.map(\.child).max() ?? 2
            var moved: [(child: Int32, parent: Int32)] = []
            defer { for entry in moved { close(entry.parent) } }
            for entry in descriptors {
                let copy = fcntl(entry.parent, F_DUPFD_CLOEXEC, highest + 1)
                guard copy >= 0 else { throw spawnError(executable, errno) }
                moved.append((entry.child, copy))
            }
            for entry in moved { posix_spawn_file_actions_adddup2(&actions, entry.parent, entry.child) }
            // Close everything else the launcher inherited without close-on-exec (a shell's or a test harness's).
            for descriptor in openDescriptors()
            where descriptor > 2 && !descriptors.contains(where: { $0.child == descriptor }) {
                posix_spawn_file_actions_addclose(&actions, descriptor)
            }

            // The launcher ignores SIGINT/SIGTERM/SIGHUP while it waits; the child must not inherit that.
            var all = sigset_t()
            sigfillset(&all)
            var none = sigset_t()
            sigemptyset(&none)
            posix_spawnattr_setsigdefault(&attributes, &all)
            posix_spawnattr_setsigmask(&attributes, &none)
            posix_spawnattr_setpgroup(&attributes, 0)
            posix_spawnattr_setflags(
                &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

            let argv = ([executable] + arguments).map { strdup($0) }
            let envp = environment.map { strdup($0) }
            defer {
                for pointer in argv { free(pointer) }
                for pointer in envp { free(pointer) }
            }
            var pid: pid_t = 0
            let status = (argv + [nil]).withUnsafeBufferPointer { argvBuffer in
                (envp + [nil]).withUnsafeBufferPointer { envBuffer in
                    guard let argvBase = argvBuffer.baseAddress, let envBase = envBuffer.baseAddress else {
                        return EINVAL
                    }
                    return posix_spawn(&pid, executable, &actions, &attributes, argvBase, envBase)
                }
            }
            guard status == 0 else { throw spawnError(executable, status) }
            return pid
        }

        /// Descriptors open in this process now, from /proc/self/fd.
        static func openDescriptors() -> [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
        }

        /// The exit status, or 128+N when signal N ended it.
        static func wait(pid: Int32) -> Int32 {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 {
                if errno != EINTR { return 127 }
            }
            let signal = status & 0x7F
            return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
        }

        static func spawnError(_ executable: String, _ code: Int32) -> PaddockError {
            PaddockError.other(
                "Could not start \(executable): \(String(cString: strerror(code))). Check that bubblewrap is installed (`sudo apt-get install bubblewrap`)."
            )
        }
    #endif
}
