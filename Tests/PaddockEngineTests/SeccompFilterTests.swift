import Foundation
import Testing

@testable import PaddockEngine

/// A classic-BPF interpreter for exactly the instructions seccomp programs use, run over the bytes bwrap reads.
struct BPFMachine {
    struct Instruction {
        var code: UInt16
        var jt: UInt8
        var jf: UInt8
        var k: UInt32
    }

    enum Failure: Error, Equatable {
        case badOpcode(UInt16)
        case outOfBounds(Int)
        case fellOffTheEnd
        case badLoad(UInt32)
    }

    let program: [Instruction]

    /// Decodes `struct sock_filter` records (little-endian).
    init(bytes: [UInt8]) {
        precondition(bytes.count % 8 == 0)
        program = stride(from: 0, to: bytes.count, by: 8).map { offset in
            let b = bytes[offset..<offset + 8].map { UInt32($0) }
            return Instruction(
                code: UInt16(b[0] | b[1] << 8), jt: UInt8(b[2]), jf: UInt8(b[3]),
                k: b[4] | b[5] << 8 | b[6] << 16 | b[7] << 24)
        }
    }

    /// `struct seccomp_data` as the kernel lays it out.
    static func data(nr: Int32, arch: UInt32, args: [UInt64]) -> [UInt8] {
        var bytes: [UInt8] = []
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        append(nr)
        append(arch)
        append(UInt64(0x4000_1000))  // instruction pointer
        for index in 0..<6 { append(index < args.count ? args[index] : 0) }
        return bytes
    }

    func run(nr: Int32, arch: UInt32, args: [UInt64] = []) throws -> UInt32 {
        let data = Self.data(nr: nr, arch: arch, args: args)
        var accumulator: UInt32 = 0
        var pc = 0
        while pc < program.count {
            let instruction = program[pc]
            switch instruction.code {
            case 0x20:  // ld [k]
                let offset = Int(instruction.k)
                guard offset % 4 == 0, offset + 4 <= data.count else { throw Failure.badLoad(instruction.k) }
                accumulator = data[offset..<offset + 4].enumerated().reduce(0) {
                    $0 | UInt32($1.element) << (8 * $1.offset)
                }
                pc += 1
            case 0x15:  // jeq
                pc += 1 + Int(accumulator == instruction.k ? instruction.jt : instruction.jf)
            case 0x35:  // jge
                pc += 1 + Int(accumulator >= instruction.k ? instruction.jt : instruction.jf)
            case 0x45:  // jset
                pc += 1 + Int(accumulator & instruction.k != 0 ? instruction.jt : instruction.jf)
            case 0x06:  // ret k
                return instruction.k
            default:
                throw Failure.badOpcode(instruction.code)
            }
            if pc > program.count { throw Failure.outOfBounds(pc) }
        }
        throw Failure.fellOffTheEnd
    }
}

@Suite("seccomp filter for bwrap: compiled, decoded and simulated")
struct SeccompFilterTests {
    static let allow: UInt32 = 0x7FFF_0000
    static let eperm: UInt32 = 0x0005_0001
    static let enosys: UInt32 = 0x0005_0026
    static let kill: UInt32 = 0x8000_0000
    static let cloneNewUser: UInt64 = 0x1000_0000

    func machine(_ architecture: SeccompFilter.Architecture) -> BPFMachine {
        BPFMachine(bytes: SeccompFilter.compile(for: architecture).bytes)
    }

    func nr(_ name: String, _ architecture: SeccompFilter.Architecture) throws -> Int32 {
        Int32(try #require(SyscallTable.number(name, on: architecture), "\(name) on \(architecture)"))
    }

    @Test(arguments: SeccompFilter.Architecture.allCases)
    func ordinarySyscallsAreAllowed(architecture: SeccompFilter.Architecture) throws {
        let vm = machine(architecture)
        // read, write, openat, execve, exit_group, and plain fork-style clones.
        let ordinary: [Int32] = architecture == .x86_64 ? [0, 1, 257, 59, 231, 39] : [63, 64, 56, 221, 94, 172]
        for number in ordinary {
            #expect(try vm.run(nr: number, arch: architecture.auditArch) == Self.allow, "syscall \(number)")
        }
        // clone as glibc's fork and pthread_create call it.
        let clone = try nr("clone", architecture)
        #expect(try vm.run(nr: clone, arch: architecture.auditArch, args: [0x0120_0011]) == Self.allow)
        #expect(try vm.run(nr: clone, arch: architecture.auditArch, args: [0x003D_0F00]) == Self.allow)
    }

    @Test(arguments: SeccompFilter.Architecture.allCases)
    func noNewUserNamespaces(architecture: SeccompFilter.Architecture) throws {
        let vm = machine(architecture)
        let arch = architecture.auditArch
        #expect(try vm.run(nr: nr("unshare", architecture), arch: arch, args: [Self.cloneNewUser]) == Self.eperm)
        #expect(
            try vm.run(nr: nr("unshare", architecture), arch: arch, args: [0x0002_0000]) == Self.eperm, "CLONE_NEWNS")
        #expect(try vm.run(nr: nr("unshare", architecture), arch: arch, args: [0x80]) == Self.eperm, "CLONE_NEWTIME")
        #expect(
            try vm.run(nr: nr("unshare", architecture), arch: arch, args: [0x200]) == Self.allow, "CLONE_FS is harmless"
        )
        #expect(try vm.run(nr: nr("clone", architecture), arch: arch, args: [Self.cloneNewUser | 0x11]) == Self.eperm)
        #expect(
            try vm.run(nr: nr("clone", architecture), arch: arch, args: [0x4000_0011]) == Self.eperm, "CLONE_NEWNET")
        // High bits must not hide the flag, and cannot be used to fake it either.
        #expect(
            try vm.run(nr: nr("clone", architecture), arch: arch, args: [0xFFFF_FFFF_0000_0000 | Self.cloneNewUser])
                == Self.eperm)
        #expect(try vm.run(nr: nr("clone", architecture), arch: arch, args: [0x1_0000_0011]) == Self.allow)
        #expect(try vm.run(nr: nr("clone3", architecture), arch: arch) == Self.enosys, "libc falls back to clone")
        #expect(try vm.run(nr: nr("setns", architecture), arch: arch) == Self.eperm)
    }

    @Test(arguments: SeccompFilter.Architecture.allCases)
    func everyAlwaysBlockedSyscallIsRefused(architecture: SeccompFilter.Architecture) throws {
        let vm = machine(architecture)
        for rule in SeccompFilter.rules where rule.condition == .always {
            guard let number = SyscallTable.number(rule.syscall, on: architecture) else {
                #expect(["iopl", "ioperm"].contains(rule.syscall), "\(rule.syscall) has no number on \(architecture)")
                continue
            }
            let expected = rule.syscall == "clone3" ? Self.enosys : Self.eperm
            #expect(
                try vm.run(nr: Int32(number), arch: architecture.auditArch, args: [0, 0, 0]) == expected,
                "\(rule.syscall)")
        }
        for name in [
            "ptrace", "process_vm_readv", "process_vm_writev", "keyctl", "add_key", "request_key", "bpf",
            "perf_event_open", "userfaultfd", "kexec_load", "init_module", "finit_module", "mount", "umount2",
            "pivot_root", "open_tree", "move_mount", "fsopen", "setns",
        ] {
            #expect(try vm.run(nr: nr(name, architecture), arch: architecture.auditArch) == Self.eperm, "\(name)")
        }
    }

    @Test(arguments: SeccompFilter.Architecture.allCases)
    func personalityOnlyQueriesAndTheDefault(architecture: SeccompFilter.Architecture) throws {
        let vm = machine(architecture)
        let number = try nr("personality", architecture)
        #expect(try vm.run(nr: number, arch: architecture.auditArch, args: [0]) == Self.allow)
        #expect(try vm.run(nr: number, arch: architecture.auditArch, args: [0xFFFF_FFFF]) == Self.allow)
        #expect(
            try vm.run(nr: number, arch: architecture.auditArch, args: [0x0004_0000]) == Self.eperm, "ADDR_NO_RANDOMIZE"
        )
        #expect(
            try vm.run(nr: number, arch: architecture.auditArch, args: [0x0040_0000]) == Self.eperm, "READ_IMPLIES_EXEC"
        )
    }

    @Test(arguments: SeccompFilter.Architecture.allCases)
    func noTerminalInjection(architecture: SeccompFilter.Architecture) throws {
        let vm = machine(architecture)
        let ioctl = try nr("ioctl", architecture)
        #expect(try vm.run(nr: ioctl, arch: architecture.auditArch, args: [0, 0x5412]) == Self.eperm, "TIOCSTI")
        #expect(try vm.run(nr: ioctl, arch: architecture.auditArch, args: [0, 0x541C]) == Self.eperm, "TIOCLINUX")
        #expect(try vm.run(nr: ioctl, arch: architecture.auditArch, args: [0, 0x5401]) == Self.allow, "TCGETS")
        #expect(try vm.run(nr: ioctl, arch: architecture.auditArch, args: [0, 0x5413]) == Self.allow, "TIOCGWINSZ")
    }

    /// AF_VSOCK reaches a VM engine's host; AF_ALG and the rest are kernel code no agent needs.
    @Test(arguments: SeccompFilter.Architecture.allCases)
    func onlyTheSocketFamiliesAgentsUse(architecture: SeccompFilter.Architecture) throws {
        let vm = machine(architecture)
        let socket = try nr("socket", architecture)
        let eafnosupport: UInt32 = 0x0005_0061
        for family: UInt64 in [1, 2, 10, 16] {
            #expect(
                try vm.run(nr: socket, arch: architecture.auditArch, args: [family, 1, 0]) == Self.allow,
                "family \(family)")
        }
        for family: UInt64 in [0, 3, 17, 38, 40, 44, 46, 0xFFFF_FFFF] {
            #expect(
                try vm.run(nr: socket, arch: architecture.auditArch, args: [family, 1, 0]) == eafnosupport,
                "family \(family)")
        }
        let socketpair = try nr("socketpair", architecture)
        #expect(try vm.run(nr: socketpair, arch: architecture.auditArch, args: [1, 1, 0]) == Self.allow)
        #expect(try vm.run(nr: socketpair, arch: architecture.auditArch, args: [40, 1, 0]) == eafnosupport)
        #expect(try vm.run(nr: socketpair, arch: architecture.auditArch, args: [38, 5, 0]) == eafnosupport)
        // The high half of the argument cannot dress AF_VSOCK up as AF_INET: the kernel reads an int.
        #expect(try vm.run(nr: socket, arch: architecture.auditArch, args: [0x1_0000_0028, 1, 0]) == eafnosupport)
    }

    @Test(arguments: SeccompFilter.Architecture.allCases)
    func aForeignABIIsKilled(architecture: SeccompFilter.Architecture) throws {
        let vm = machine(architecture)
        // i386 (int 0x80 on x86_64), arm (aarch32 compat), and the other listed architecture.
        let others = SeccompFilter.Architecture.allCases.filter { $0 != architecture }.map(\.auditArch)
        for foreign: UInt32 in [0x4000_0003, 0x4000_0028] + others {
            #expect(try vm.run(nr: 0, arch: foreign) == Self.kill)
        }
        if architecture == .x86_64 {
            // x32: same audit arch, bit 30 set in the number; ptrace through x32 would dodge every rule.
            #expect(try vm.run(nr: 0x4000_0000 | 101, arch: architecture.auditArch) == Self.kill)
            #expect(try vm.run(nr: 0x4000_0000, arch: architecture.auditArch) == Self.kill)
        }
    }

    @Test func programFitsTheKernelsLimitsAndJumpsStayInside() throws {
        for architecture in SeccompFilter.Architecture.allCases {
            let program = SeccompFilter.compile(for: architecture).instructions
            #expect(program.count < 4096)
            for (index, instruction) in program.enumerated() where instruction.code & 0x07 == 0x05 {
                #expect(index + 1 + Int(max(instruction.jt, instruction.jf)) < program.count)
            }
            #expect(program.last?.code == 0x06, "ends with a return")
        }
    }

    @Test func bytesAreSockFilterRecords() {
        let filter = SeccompFilter(
            architecture: .x86_64, instructions: [SeccompFilter.Instruction(code: 0x15, jt: 1, jf: 2, k: 0xC000_003E)])
        #expect(filter.bytes == [0x15, 0x00, 0x01, 0x02, 0x3E, 0x00, 0x00, 0xC0])
    }
}
