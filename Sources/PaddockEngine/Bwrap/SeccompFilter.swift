import Foundation

/// The seccomp filter bwrap installs before it runs the agent: a classic-BPF program that blocks what namespaces
/// alone leave open — new user namespaces inside (the door to every "unprivileged" kernel bug), ptrace and its
/// cousins, kernel keyrings, bpf, mount APIs, module loading, terminal injection, and an unexpected ABI.
public struct SeccompFilter: Equatable, Sendable {
    /// One classic-BPF instruction, `struct sock_filter`.
    public struct Instruction: Equatable, Sendable {
        public var code: UInt16
        public var jt: UInt8
        public var jf: UInt8
        public var k: UInt32

        public init(code: UInt16, jt: UInt8 = 0, jf: UInt8 = 0, k: UInt32) {
            self.code = code
            self.jt = jt
            self.jf = jf
            self.k = k
        }
    }

    public enum Architecture: String, CaseIterable, Sendable {
        // swift-format-ignore: AlwaysUseLowerCamelCase
        // The kernel's and the compiler's name for it.
        case x86_64
        case aarch64

        /// AUDIT_ARCH_X86_64 and AUDIT_ARCH_AARCH64: what the kernel puts in `seccomp_data.arch`.
        public var auditArch: UInt32 {
            switch self {
            case .x86_64: return 0xC000_003E
            case .aarch64: return 0xC000_00B7
            }
        }

        public static var current: Architecture? {
            #if arch(x86_64)
                return .x86_64
            #elseif arch(arm64)
                return .aarch64
            #else
                return nil
            #endif
        }
    }

    /// What a matching syscall gets.
    public enum Action: Equatable, Sendable {
        case errno(UInt16)
        case killProcess

        var returnValue: UInt32 {
            switch self {
            case .errno(let number): return SeccompFilter.retErrno | UInt32(number)
            case .killProcess: return SeccompFilter.retKillProcess
            }
        }
    }

    /// A condition on the low 32 bits of one argument. Every argument checked here is an int or flags word
    /// whose meaningful bits are all in the low half, so the high half cannot smuggle anything past it.
    public enum Condition: Equatable, Sendable {
        case always
        case anyBitSet(argument: Int, mask: UInt32)
        case equals(argument: Int, values: [UInt32])
        case notIn(argument: Int, values: [UInt32])
    }

    public struct Rule: Equatable, Sendable {
        public var syscall: String
        public var condition: Condition
        public var action: Action

        public init(_ syscall: String, _ condition: Condition = .always, _ action: Action = .errno(eperm)) {
            self.syscall = syscall
            self.condition = condition
            self.action = action
        }
    }

    public static let eperm: UInt16 = 1
    public static let enosys: UInt16 = 38
    static let retAllow: UInt32 = 0x7FFF_0000
    static let retErrno: UInt32 = 0x0005_0000
    static let retKillProcess: UInt32 = 0x8000_0000

    // BPF opcodes.
    static let ldWordAbsolute: UInt16 = 0x20  // BPF_LD | BPF_W | BPF_ABS
    static let jumpEqual: UInt16 = 0x15  // BPF_JMP | BPF_JEQ | BPF_K
    static let jumpGreaterOrEqual: UInt16 = 0x35  // BPF_JMP | BPF_JGE | BPF_K
    static let jumpSet: UInt16 = 0x45  // BPF_JMP | BPF_JSET | BPF_K
    static let returnConstant: UInt16 = 0x06  // BPF_RET | BPF_K

    /// Offsets into `struct seccomp_data` (both architectures are little-endian: an argument's low half comes first).
    static let offsetNumber: UInt32 = 0
    static let offsetArch: UInt32 = 4
    static func offsetArgument(_ index: Int) -> UInt32 { 16 + 8 * UInt32(index) }

    /// Namespace flags; CLONE_NEWTIME (0x80) only for unshare, because in clone's flags the low byte is the exit signal.
    static let cloneNamespaceFlags: UInt32 =
        0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000
        | 0x2000_0000 | 0x4000_0000  // NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
    static let unshareNamespaceFlags: UInt32 = cloneNamespaceFlags | 0x80

    /// paddock's policy. Namespaces (and bwrap dropping every capability) already stop most of these; the filter
    /// makes each refusal independent of the kernel's capability checks being bug-free.
    public static let rules: [Rule] = [
        // No nested namespaces: clone3 passes its flags in memory the filter cannot read, so it reports ENOSYS
        // and libc falls back to clone, whose flags the filter can.
        Rule("clone", .anyBitSet(argument: 0, mask: cloneNamespaceFlags)),
        Rule("clone3", .always, .errno(enosys)),
        Rule("unshare", .anyBitSet(argument: 0, mask: unshareNamespaceFlags)),
        Rule("setns"),
        // Reading or steering other processes.
        Rule("ptrace"), Rule("process_vm_readv"), Rule("process_vm_writev"), Rule("kcmp"), Rule("pidfd_getfd"),
        Rule("process_madvise"),
        // Kernel keyrings are not namespaced: a session could read or plant the user's keys.
        Rule("keyctl"), Rule("add_key"), Rule("request_key"),
        // Large kernel attack surface no agent needs.
        Rule("bpf"), Rule("perf_event_open"), Rule("userfaultfd"), Rule("io_uring_setup"), Rule("io_uring_enter"),
        Rule("io_uring_register"),
        // The machine itself.
        Rule("kexec_load"), Rule("kexec_file_load"), Rule("init_module"), Rule("finit_module"), Rule("delete_module"),
        Rule("reboot"), Rule("swapon"), Rule("swapoff"), Rule("acct"), Rule("syslog"), Rule("quotactl"),
        Rule("quotactl_fd"), Rule("lookup_dcookie"), Rule("vhangup"),
        // The filesystem view bwrap built must stay as built.
        Rule("mount"), Rule("umount2"), Rule("pivot_root"), Rule("chroot"), Rule("open_tree"), Rule("move_mount"),
        Rule("fsopen"), Rule("fsconfig"), Rule("fsmount"), Rule("fspick"), Rule("mount_setattr"),
        Rule("name_to_handle_at"), Rule("open_by_handle_at"),
        // Only the default personality and the query; ADDR_NO_RANDOMIZE and friends weaken exploits' obstacles.
        Rule("personality", .notIn(argument: 0, values: [0, 0xFFFF_FFFF])),
        // TIOCSTI pushes keystrokes into the terminal the launcher shares with the user's shell; TIOCLINUX too.
        Rule("ioctl", .equals(argument: 1, values: [0x5412, 0x541C])),
        // x86 only: raw port access.
        Rule("iopl"), Rule("ioperm"),
        // Only the socket families agents use (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK): not AF_VSOCK, where a VM
        // engine's host listens, nor AF_ALG or the rest that load rarely audited protocol code. EAFNOSUPPORT.
        Rule(
            "socket", .notIn(argument: 0, values: HardenedSeccompProfile.socketFamilies.map { UInt32($0) }), .errno(97)),
        // socketpair creates the family's sockets before it fails for any but AF_UNIX: the same code, by another door.
        Rule("socketpair", .notIn(argument: 0, values: [1]), .errno(97)),
    ]

    public var architecture: Architecture
    public var instructions: [Instruction]

    /// Compiles `rules` for `architecture`; syscalls that architecture lacks are skipped (they cannot be called).
    public static func compile(_ rules: [Rule] = rules, for architecture: Architecture) -> SeccompFilter {
        var program: [Instruction] = []
        // Wrong ABI (for example 32-bit x86 via int 0x80, with its own numbers): kill, never guess.
        program.append(Instruction(code: ldWordAbsolute, k: offsetArch))
        program.append(Instruction(code: jumpEqual, jt: 1, jf: 0, k: architecture.auditArch))
        program.append(Instruction(code: returnConstant, k: retKillProcess))
        program.append(Instruction(code: ldWordAbsolute, k: offsetNumber))
        if architecture == .x86_64 {
            // x32 syscalls share AUDIT_ARCH_X86_64 but set bit 30 of the number.
            program.append(Instruction(code: jumpGreaterOrEqual, jt: 0, jf: 1, k: 0x4000_0000))
            program.append(Instruction(code: returnConstant, k: retKillProcess))
        }
        for rule in rules {
            guard let number = SyscallTable.number(rule.syscall, on: architecture) else { continue }
            let action = rule.action.returnValue
            switch rule.condition {
            case .always:
                program.append(Instruction(code: jumpEqual, jt: 0, jf: 1, k: number))
                program.append(Instruction(code: returnConstant, k: action))
            case .anyBitSet(let argument, let mask):
                // nr matches: load the argument; a set bit takes the action, else allow (no other rule can match).
                program.append(Instruction(code: jumpEqual, jt: 0, jf: 4, k: number))
                program.append(Instruction(code: ldWordAbsolute, k: offsetArgument(argument)))
                program.append(Instruction(code: jumpSet, jt: 0, jf: 1, k: mask))
                program.append(Instruction(code: returnConstant, k: action))
                program.append(Instruction(code: returnConstant, k: retAllow))
            case .equals(let argument, let values), .notIn(let argument, let values):
                // nr, load, one jeq per value, then [no match outcome, match outcome].
                let isEquals: Bool
                if case .equals = rule.condition { isEquals = true } else { isEquals = false }
                let count = values.count
                program.append(Instruction(code: jumpEqual, jt: 0, jf: UInt8(count + 3), k: number))
                program.append(Instruction(code: ldWordAbsolute, k: offsetArgument(argument)))
                for (index, value) in values.enumerated() {
                    program.append(Instruction(code: jumpEqual, jt: UInt8(count - index), jf: 0, k: value))
                }
                program.append(Instruction(code: returnConstant, k: isEquals ? retAllow : action))
                program.append(Instruction(code: returnConstant, k: isEquals ? action : retAllow))
            }
        }
        program.append(Instruction(code: returnConstant, k: retAllow))
        return SeccompFilter(architecture: architecture, instructions: program)
    }

    /// The bytes bwrap reads from `--seccomp FD`: `struct sock_filter` in the host's byte order (little-endian here).
    public var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(instructions.count * 8)
        for instruction in instructions {
            result += [UInt8(truncatingIfNeeded: instruction.code), UInt8(truncatingIfNeeded: instruction.code >> 8)]
            result += [instruction.jt, instruction.jf]
            for shift in stride(from: 0, to: 32, by: 8) {
                result.append(UInt8(truncatingIfNeeded: instruction.k >> UInt32(shift)))
            }
        }
        return result
    }
}

/// Syscall numbers for the rules, per architecture (x86_64 from asm/unistd_64.h, aarch64 from asm-generic/unistd.h).
public enum SyscallTable {
    // swift-format-ignore: AlwaysUseLowerCamelCase
    static let x86_64: [String: UInt32] = [
        "ioctl": 16, "socket": 41, "socketpair": 53, "clone": 56, "ptrace": 101, "syslog": 103, "personality": 135,
        "vhangup": 153,
        "pivot_root": 155, "chroot": 161, "acct": 163, "mount": 165, "umount2": 166, "swapon": 167, "swapoff": 168,
        "reboot": 169, "iopl": 172, "ioperm": 173, "init_module": 175, "delete_module": 176, "quotactl": 179,
        "lookup_dcookie": 212, "kexec_load": 246, "add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272,
        "perf_event_open": 298, "name_to_handle_at": 303, "open_by_handle_at": 304, "setns": 308,
        "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312, "finit_module": 313, "kexec_file_load": 320,
        "bpf": 321, "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
        "clone3": 435, "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442, "quotactl_fd": 443,
    ]
    static let aarch64: [String: UInt32] = [
        "lookup_dcookie": 18, "ioctl": 29, "umount2": 39, "mount": 40, "pivot_root": 41, "chroot": 51, "vhangup": 58,
        "quotactl": 60, "acct": 89, "personality": 92, "unshare": 97, "kexec_load": 104, "init_module": 105,
        "delete_module": 106, "syslog": 116, "ptrace": 117, "reboot": 142, "add_key": 217, "request_key": 218,
        "keyctl": 219, "clone": 220, "swapon": 224, "swapoff": 225, "perf_event_open": 241, "name_to_handle_at": 264,
        "open_by_handle_at": 265, "setns": 268, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
        "finit_module": 273, "socket": 198, "socketpair": 199, "bpf": 280, "userfaultfd": 282, "kexec_file_load": 294,
        "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428, "move_mount": 429, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435, "pidfd_getfd": 438, "process_madvise": 440,
        "mount_setattr": 442, "quotactl_fd": 443,
    ]

    public static func number(_ name: String, on architecture: SeccompFilter.Architecture) -> UInt32? {
        switch architecture {
        case .x86_64: return x86_64[name]
        case .aarch64: return aarch64[name]
        }
    }
}
