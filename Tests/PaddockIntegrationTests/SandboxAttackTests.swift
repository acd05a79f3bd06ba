import Foundation
import PaddockCore
import PaddockEngine
import PaddockTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// What a hostile agent tries from inside, on every engine. Each line prints a word only if the attack worked.
@Suite("Attacks from inside the sandbox", .serialized, .tags(.engine))
struct SandboxAttackTests {
    /// A listener of the test's own on the host's loopback: the sandbox's loopback must not be the host's.
    func hostListener() throws -> (descriptor: Int32, port: UInt16) {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, 8) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        try #require(bound, "could not listen on the host's loopback")
        return (descriptor, UInt16(bigEndian: address.sin_port))
    }

    func perlSyscall(_ name: String, _ arguments: String = "0, 0, 0, 0") throws -> String {
        let architecture = try #require(SeccompFilter.Architecture.current)
        let number = try #require(SyscallTable.number(name, on: architecture))
        return "perl -e 'print syscall(\(number), \(arguments)) == -1 ? q() : q(\(name.uppercased())-WORKED\\n)'"
    }

    @Test(arguments: TestEngine.allCases) func aHostileAgentGetsNowhere(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let marker = "paddock-secret-\(fixture.id)"
            try await fixture.write(marker, to: fixture.home + "/.ssh/id_ed25519")
            let listener = try hostListener()
            defer { close(listener.descriptor) }
            var attacks = [
                // The host's home and machine secrets.
                "cat \(fixture.home)/.ssh/id_ed25519 2>/dev/null",
                "cat /etc/shadow >/dev/null 2>&1 && echo SHADOW-READ",
                "ls /root 2>/dev/null && echo ROOT-HOME-LISTED",
                // A user namespace would give the agent capabilities over a fresh set of kernel code paths.
                "unshare -U true 2>/dev/null && echo USERNS-CREATED",
                "unshare -Ur true 2>/dev/null && echo USERNS-ROOT",
                // Kernel keyrings are shared with the host user.
                try perlSyscall("keyctl", "0, -3, 0, 0"),
                "mount -t tmpfs none /tmp 2>/dev/null && echo MOUNTED",
                // The host's loopback and the outside world.
                "(exec 3<>/dev/tcp/127.0.0.1/\(listener.port)) 2>/dev/null && echo HOST-LOOPBACK-REACHED",
                "getent hosts example.com >/dev/null 2>&1 && echo DNS-RESOLVED",
                // A VM engine's host listens on vsock (Docker Desktop's and Apple's own services); AF_ALG is kernel
                // crypto code no agent needs. Neither family may open at all.
                "perl -e 'socket(my $s, 40, 1, 0) and print qq(VSOCK-SOCKET\\n)'",
                "perl -e 'socket(my $s, 38, 5, 0) and print qq(AF-ALG-SOCKET\\n)'",
                // socketpair runs the family's socket code before it fails for any but AF_UNIX.
                "perl -e 'socketpair(my $a, my $b, 40, 1, 0) or $! != 95 or print qq(VSOCK-SOCKETPAIR-CREATED\\n)'",
                // pid 1's command line is readable inside: it must not map the host (bwrap's own argv did).
                // (The path is joined at run time: the script itself is in pid 1's command line on every engine.)
                "a='\(fixture.home)'; b='/.local/state/paddock'; grep -q -a -- \"$a$b\" /proc/1/cmdline && echo HOST-PATHS-IN-PID1",
                // Control: the families agents use still open.
                "perl -e 'socket(my $s, 1, 1, 0) or print qq(NO-UNIX-SOCKET\\n); socket(my $t, 2, 1, 0) or print qq(NO-INET-SOCKET\\n)'",
            ]
            if engine == .bwrap {
                // Container engines allow tracing one's own children; paddock's bwrap filter allows no ptrace at all.
                attacks.append(try perlSyscall("ptrace"))
                attacks.append(try perlSyscall("process_vm_readv", "1, 0, 0, 0, 0, 0"))
                attacks.append("test -e /run/docker.sock -o -e /var/run/docker.sock && echo ENGINE-SOCKET")
            }
            let script = attacks.joined(separator: "\n") + "\necho done"
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "bash", "-c", script])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == "done\n", "an attack worked on \(engine.rawValue): \(result.stdout)")
        }
    }

    /// The user sends output to a log (holding earlier lines) and feeds input from a file: the agent may write its
    /// output and read its input, but not reopen the launcher's files through /proc/self/fd to read the log's
    /// earlier lines or write into the input file.
    @Test(arguments: TestEngine.allCases) func redirectedFilesCannotBeReopened(engine: TestEngine) async throws {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let log = fixture.root + "/out.log"
            let input = fixture.root + "/in.txt"
            try await fixture.userShell("printf 'EARLIER-LINE\\n' > \(log) && printf 'line-one\\n' > \(input)")
            let agent = """
                read line; echo "got $line"
                timeout 3 grep -q EARLIER-LINE /proc/self/fd/1 2>/dev/null && echo REOPENED-STDOUT
                timeout 3 grep -q EARLIER-LINE /proc/self/fd/2 2>/dev/null && echo REOPENED-STDERR
                (timeout 3 sh -c "echo PLANTED > /proc/self/fd/0") 2>/dev/null
                echo done
                """
            let run = try await fixture.userShell(
                "'\(fixture.binary)' run --agent shell -- sh -c '\(agent)' < \(input) >> \(log) 2>> \(log); echo $?")
            #expect(run.stdout == "0\n")
            let written = try String(contentsOfFile: log, encoding: .utf8)
            #expect(written.hasPrefix("EARLIER-LINE\n"))
            #expect(written.contains("got line-one\ndone\n"), "\(written)")
            #expect(!written.contains("REOPENED"), "\(written)")
            #expect(try String(contentsOfFile: input, encoding: .utf8) == "line-one\n")
        }
    }

    /// The gateway's socket sits in a read-only bind of a host folder, owned by the host user; every engine must
    /// let the sandbox user connect through it (rootless Podman maps that user with keep-id).
    @Test(arguments: TestEngine.allCases) func theGatewaySocketIsReachableAcrossTheMapping(engine: TestEngine)
        async throws
    {
        try await IntegrationFixture.with(engine: engine) { fixture in
            let request =
                "printf 'CONNECT blocked.invalid:443 HTTP/1.1\\r\\nHost: blocked.invalid:443\\r\\n\\r\\n' | socat -t 5 - TCP:127.0.0.1:3128 | head -n 1"
            let result = try await fixture.paddock(["run", "--agent", "shell", "--", "sh", "-c", request])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(
                result.stdout.hasPrefix("HTTP/1.1 403"), "the gateway answered through the socket: \(result.stdout)")
        }
    }
}
