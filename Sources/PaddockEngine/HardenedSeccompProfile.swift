import Foundation
import PaddockCore

/// paddock's seccomp profile for the container engines: the default profile Podman ships (containers-common, the
/// same allow-list shape as Docker's built-in one) with Docker's stance on namespaces, and only the socket families
/// an agent uses. Pure where it can be, so the transformation is unit-tested on the real file.
public enum HardenedSeccompProfile {
    /// Namespace flags of clone(2)/unshare(2): NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET (+NEWTIME).
    static let cloneNamespaceMask: UInt64 = 0x7E02_0000
    static let unshareNamespaceMask: UInt64 = 0x7E02_0080
    /// Allowed by Podman's default profile (to run containers inside containers), refused by Docker's and by paddock:
    /// new namespaces (the way to kernel code only namespace root reaches), joining namespaces, kernel keyrings.
    /// `socket` and `socketcall` come back below with their families checked.
    static let refusedSyscalls: Set<String> = [
        "clone", "clone3", "unshare", "setns", "keyctl", "add_key", "request_key", "socket", "socketcall", "socketpair",
    ]
    /// AF_UNIX, AF_INET, AF_INET6, AF_NETLINK. Not AF_VSOCK (a VM engine's host listens there: Docker Desktop's,
    /// Apple's), not AF_ALG (kernel crypto code), nor the rest that autoload rarely audited protocol modules.
    public static let socketFamilies: [UInt64] = [1, 2, 10, 16]
    /// Bumped whenever `derive` changes what it writes.
    static let derivation = "v3"

    public static func derive(fromDefault data: Data) throws -> Data {
        guard var profile = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let rules = profile["syscalls"] as? [[String: Any]]
        else {
            throw PaddockError.other(
                "Podman's default seccomp profile is not the JSON paddock expects; reinstall containers-common.")
        }
        var hardened: [[String: Any]] = rules.compactMap { rule in
            guard let names = rule["names"] as? [String] else { return rule }
            // Socket rules go whatever their action: libseccomp refuses a profile whose rules for one syscall
            // overlap with different actions, and paddock's own below say everything about socket.
            let socketRule = names.contains { $0 == "socket" || $0 == "socketcall" || $0 == "socketpair" }
            guard rule["action"] as? String == "SCMP_ACT_ALLOW" || socketRule else { return rule }
            let kept = names.filter { !refusedSyscalls.contains($0) }
            if kept.isEmpty { return nil }
            var copy = rule
            copy["names"] = kept
            return copy
        }
        func allowWithout(_ name: String, mask: UInt64) -> [String: Any] {
            [
                "names": [name], "action": "SCMP_ACT_ALLOW",
                "args": [["index": 0, "value": mask, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"]],
            ]
        }
        hardened.append(allowWithout("clone", mask: cloneNamespaceMask))
        hardened.append(allowWithout("unshare", mask: unshareNamespaceMask))
        hardened.append(["names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38])
        hardened.append([
            "names": ["setns", "keyctl", "add_key", "request_key"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
        ])
        // One rule per family: conditions within a rule do not combine as "and" on one argument, rules do as "or".
        // Everything else, and the 32-bit socketcall whose arguments seccomp cannot read, falls to the default.
        for family in socketFamilies {
            var conditions: [[String: Any]] = [["index": 0, "value": family, "valueTwo": 0, "op": "SCMP_CMP_EQ"]]
            // Netlink, but not its audit protocol (9), as Podman's own profile has it without CAP_AUDIT_WRITE.
            if family == 16 { conditions.append(["index": 2, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_NE"]) }
            hardened.append(["names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": conditions])
        }
        // socketpair creates the family's sockets before failing for any but AF_UNIX: only AF_UNIX, then.
        hardened.append([
            "names": ["socketpair"], "action": "SCMP_ACT_ALLOW",
            "args": [["index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ"]],
        ])
        profile["syscalls"] = hardened
        return try JSONSerialization.data(withJSONObject: profile, options: [.sortedKeys])
    }

    /// Writes the profile derived from `defaultProfile` into `directory` (only when it changed) and returns its
    /// path; nil when the default is missing and not `required`.
    static func write(from defaultProfile: String, into directory: String, required: Bool) throws -> String? {
        guard let base = FileManager.default.contents(atPath: defaultProfile) else {
            guard required else { return nil }
            throw PaddockError.other(
                "Podman's default seccomp profile \(defaultProfile) is missing; paddock derives its own from it. Install containers-common (it comes with podman)."
            )
        }
        // Named for the default it came from and for this derivation, so a session start finds it made and skips
        // the JSON work; a changed default or a new paddock gets a new file.
        let path = directory + "/seccomp-\(derivation)-\(Hashing.sha256Hex(base).prefix(16)).json"
        if !FileManager.default.fileExists(atPath: path) {
            let profile = try derive(fromDefault: base)
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                try profile.write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw PaddockError.fileSystem(
                    path: path,
                    message:
                        "cannot write the seccomp profile: \(error). Check that paddock's state folder is writable.")
            }
        }
        return path
    }
}
