import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Facts about processes on this host, for telling live launchers from dead ones.
public enum HostProcess {
    public static var currentPID: Int32 { getpid() }

    /// A token that changes when a pid is reused: the start time on Linux, empty where not available.
    public static func startToken(pid: Int32) -> String {
        #if os(Linux)
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return "" }
            // Fields after the command name; starttime is field 22 overall, the 20th after ")".
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 19 ? String(fields[19]) : ""
        #else
            return ""
        #endif
    }

    /// Whether the launcher that labelled a container is still running.
    public static func isAlive(pid: Int32, startToken expected: String?) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0, errno == ESRCH { return false }
        if let expected, !expected.isEmpty {
            let current = startToken(pid: pid)
            if !current.isEmpty, current != expected { return false }
        }
        return true
    }

    public static func isTerminal(_ descriptor: Int32) -> Bool { isatty(descriptor) == 1 }

    /// Whether `descriptor` can give nothing to read: closed, or the null device (cron, `</dev/null`, CI).
    public static func readsNothing(_ descriptor: Int32) -> Bool {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return errno == EBADF }
        var null = stat()
        guard (status.st_mode & S_IFMT) == S_IFCHR, stat("/dev/null", &null) == 0 else { return false }
        return status.st_rdev == null.st_rdev
    }

    public static var userID: UInt32 { getuid() }
    public static var groupID: UInt32 { getgid() }
}
