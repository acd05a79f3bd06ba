/// The launcher's own system, in one place. `PADDOCK_SIMULATE_MACOS` (a compile condition, see
/// scripts/check-macos-paths.sh) makes a Linux build take the Mac's paths, so they are compiled and tested here.
public enum HostSystem {
    #if os(macOS) || PADDOCK_SIMULATE_MACOS
        public static let isMac = true
    #else
        public static let isMac = false
    #endif

    /// The longest unix socket path paddock can listen on: swift-nio refuses more than 103 bytes on every system
    /// (macOS's `sun_path` less its NUL), though Linux's `sun_path` would hold 107.
    public static let maxSocketPath = 103
}
