/// The launcher's own system, in one place. `PADDOCK_SIMULATE_MACOS` (a compile condition, see
/// scripts/check-macos-paths.sh) makes a Linux build take the Mac's paths, so they are compiled and tested here.
public enum HostSystem {
    #if os(macOS) || PADDOCK_SIMULATE_MACOS
        public static let isMac = true
    #else
        public static let isMac = false
    #endif

    /// `sun_path`'s size less its terminating NUL: 104 bytes on macOS, 108 on Linux.
    public static let maxSocketPath = isMac ? 103 : 107
}
