/// How the sandbox reaches the gateway: a unix socket at /run/paddock/gateway.sock (however the transport puts it
/// there, see `GatewayTransport`), exposed inside as 127.0.0.1:3128 by a socat bridge that runs as the agent's own
/// user. The bridge is no security boundary — the gateway decides everything — so the agent may kill or replace
/// it; without the launcher's socket there is no way out at all.
public enum GatewayAccess {
    public static let directoryInSandbox = "/run/paddock"
    public static let socketName = "gateway.sock"
    public static var socketInSandbox: String { directoryInSandbox + "/" + socketName }
    public static let bridgePort = 3128
    public static var proxyURL: String { "http://127.0.0.1:\(bridgePort)" }

    /// Every variable common clients read, in both cases; `socks5h` so names resolve at the gateway.
    public static var environment: [String: String] { environment(credential: nil) }

    /// With a credential (relay transport) every proxy URL carries it, as clients expect (`user:secret@`), and
    /// `PADDOCK_PROXY_AUTH` hands it to socat's `proxyauth` for ssh.
    public static func environment(credential: ProxyCredential?) -> [String: String] {
        let noProxy = "localhost,127.0.0.1,::1"
        let userInfo = credential.map { $0.userInfo + "@" } ?? ""
        let http = "http://\(userInfo)127.0.0.1:\(bridgePort)"
        let socks = "socks5h://\(userInfo)127.0.0.1:\(bridgePort)"
        let auth = credential.map { ",proxyauth=" + $0.userInfo } ?? ""
        var variables = [
            "HTTP_PROXY": http, "http_proxy": http,
            "HTTPS_PROXY": http, "https_proxy": http,
            "ALL_PROXY": socks, "all_proxy": socks,
            "NO_PROXY": noProxy, "no_proxy": noProxy,
            // For engines without paddock's image (no /etc/ssh/ssh_config.d/paddock.conf): git over SSH via CONNECT.
            "GIT_SSH_COMMAND": "ssh -o ProxyCommand='socat - PROXY:127.0.0.1:%h:%p,proxyport=\(bridgePort)\(auth)'",
        ]
        if let credential {
            variables["PADDOCK_PROXY_AUTH"] = credential.userInfo
            variables["PADDOCK_PROBE_AUTHORIZATION"] = "Basic " + credential.basicToken
            // git's libcurl otherwise asks first without a credential to learn the scheme: a 407 per connection.
            variables["GIT_HTTP_PROXY_AUTHMETHOD"] = "basic"
        }
        return variables
    }

    /// The request line of the bridge's probe; the gateway answers it with 204 and nothing else.
    public static let probeRequestLine = "GET /.well-known/paddock-probe HTTP/1.1\r\n"
    /// The sandbox's exit status when the probe got no answer: the launcher, which knows whether the gateway
    /// saw a probe, turns it into an error that names the engine, the transport and the fix.
    public static let probeFailedStatus: Int32 = 97

    /// First asks the gateway through the transport whether it answers (the probe, retried for up to 5 s while a
    /// relay starts; with the relay's credential when there is one), and stops with `probeFailedStatus` if it
    /// never does: an agent with no network would fail later and silently.
    public static let probeScript = """
        a=; [ -n "$PADDOCK_PROBE_AUTHORIZATION" ] && a="Proxy-Authorization: $PADDOCK_PROBE_AUTHORIZATION\\r\\n"
        n=0
        until case "$(printf "GET /.well-known/paddock-probe HTTP/1.1\\r\\n$a\\r\\n" | socat -t 2 -T 2 - UNIX-CONNECT:\(directoryInSandbox)/\(socketName) 2>/dev/null)" in "HTTP/1.1 204"*) true ;; *) false ;; esac; do
          n=$((n+1))
          if [ $n -ge 50 ]; then echo "paddock: the sandbox cannot reach paddock's gateway" >&2; exit \(probeFailedStatus); fi
          sleep 0.1
        done

        """

    /// Starts the bridge, waits until it listens, then becomes the agent. Shell builtins only (no process per
    /// check, no connection the gateway would have to log). socat listens before it first sleeps in poll(), so a
    /// socat asleep there is ready: `/proc/PID/wchan` says so for the cost of one small read. `/proc/net/tcp`
    /// would say it directly, but every read of it walks the host's whole TCP hash table (about 9 ms on a 24 GiB
    /// machine), so it is only the fallback for kernels whose wchan shows no symbol, checked now and then. A socat
    /// that exits (a zombie until the agent reaps it) ends the wait at once; after the bound the agent starts
    /// anyway: a missing bridge only means no network. The bridge starts in a subshell that exits at once, so it
    /// belongs to the sandbox's init, not to the agent: an agent that waits for all its children (a shell's `wait`,
    /// a supervisor's reaping loop) must not wait for the bridge forever. A bridge that exits is then reaped by init
    /// and its /proc entry goes, which ends the wait as a zombie did.
    public static let bridgeScript = bridgeStartScript + bridgeReadyScript

    /// The bridge's start alone: `wrap` runs the probe while socat starts. 128 KiB copies: with socat's 8 KiB
    /// default the bridge held bulk downloads to about two thirds (bench/transport, docs/benchmarks.md).
    static let bridgeStartScript = """
        p=$( (socat -b 131072 TCP-LISTEN:\(bridgePort),bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:\(directoryInSandbox)/\(socketName) </dev/null >/dev/null 2>&1 & echo $!) )

        """

    /// Waits until the bridge started by `bridgeStartScript` listens, then becomes the agent.
    static let bridgeReadyScript = """
        i=0
        while [ $i -lt 5000 ]; do
          state=Z
          read -r _ _ state _ < /proc/$p/stat
          [ "$state" = Z ] && break
          w=
          read -r w < /proc/$p/wchan
          case "$w" in *poll*|*select*) break ;; esac
          if [ $i -ge 200 ] && [ $((i % 100)) -eq 0 ]; then
            while read -r _ local _ state _; do
              [ "$local" = "\(listeningAddress)" ] && [ "$state" = "0A" ] && break 2
            done < /proc/net/tcp
          fi
          i=$((i+1))
        done 2>/dev/null
        exec "$@"
        """

    /// 127.0.0.1:3128 as `/proc/net/tcp` writes it.
    static var listeningAddress: String {
        let hex = String(bridgePort, radix: 16, uppercase: true)
        return "0100007F:" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// The bridge starts first and the probe runs while socat loads (about 4 ms each, measured inside the image);
    /// the agent starts only after both. Nothing but this script runs in the sandbox until then, so an early
    /// listener serves no one.
    public static func wrap(_ argv: [String]) -> [String] {
        ["/bin/sh", "-c", bridgeStartScript + probeScript + bridgeReadyScript, "paddock-entry"] + argv
    }

    /// ssh inside the image goes through the gateway too. ssh hands ProxyCommand to the shell, which adds the
    /// session's secret where there is one (relay transport).
    public static let sshConfig = """
        # Written by paddock: the sandbox has no network; ssh reaches hosts through paddock's gateway.
        Host *
            ProxyCommand socat - PROXY:127.0.0.1:%h:%p,proxyport=\(bridgePort)${PADDOCK_PROXY_AUTH:+,proxyauth=$PADDOCK_PROXY_AUTH}

        """
}
