/// How the sandbox reaches the gateway: a unix socket in a read-only mounted folder, exposed inside as
/// 127.0.0.1:3128 by a socat bridge that runs as the agent's own user. The bridge is no security boundary — the
/// gateway decides everything — so the agent may kill or replace it; without the launcher's socket there is no way
/// out at all.
public enum GatewayAccess {
    public static let directoryInSandbox = "/run/paddock"
    public static let socketName = "gateway.sock"
    public static let bridgePort = 3128
    public static var proxyURL: String { "http://127.0.0.1:\(bridgePort)" }

    /// Every variable common clients read, in both cases; `socks5h` so names resolve at the gateway.
    public static var environment: [String: String] {
        let noProxy = "localhost,127.0.0.1,::1"
        return [
            "HTTP_PROXY": proxyURL, "http_proxy": proxyURL,
            "HTTPS_PROXY": proxyURL, "https_proxy": proxyURL,
            "ALL_PROXY": "socks5h://127.0.0.1:\(bridgePort)", "all_proxy": "socks5h://127.0.0.1:\(bridgePort)",
            "NO_PROXY": noProxy, "no_proxy": noProxy,
            // For engines without paddock's image (no /etc/ssh/ssh_config.d/paddock.conf): git over SSH via CONNECT.
            "GIT_SSH_COMMAND": "ssh -o ProxyCommand='socat - PROXY:127.0.0.1:%h:%p,proxyport=\(bridgePort)'",
        ]
    }

    /// Starts the bridge, waits (briefly) until it listens, then becomes the agent. `/proc/net/tcp` shows the
    /// listener without making a connection the gateway would have to log.
    public static let bridgeScript = """
        socat TCP-LISTEN:\(bridgePort),bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:\(directoryInSandbox)/\(socketName) 2>/dev/null &
        i=0
        while [ $i -lt 200 ] && ! grep -q ':0C38 00000000:0000 0A' /proc/net/tcp 2>/dev/null; do sleep 0.01; i=$((i+1)); done
        exec "$@"
        """

    public static func wrap(_ argv: [String]) -> [String] {
        ["/bin/sh", "-c", bridgeScript, "paddock-entry"] + argv
    }

    /// ssh inside the image goes through the gateway too.
    public static let sshConfig = """
        # Written by paddock: the sandbox has no network; ssh reaches hosts through paddock's gateway.
        Host *
            ProxyCommand socat - PROXY:127.0.0.1:%h:%p,proxyport=\(bridgePort)

        """
}
