/// Files paddock adds to every image, by path relative to `/`.
public enum SandboxFiles {
    public static let all: [String: String] = [
        "etc/ssh/ssh_config.d/paddock.conf": GatewayAccess.sshConfig
    ]
}
