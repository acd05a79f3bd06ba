#!/usr/bin/env bash
# The gateway benchmark (issue 3): paddock's gateway against tinyproxy and squid from Debian, with a direct
# connection as the ceiling, all on loopback in one run. Figures go to stdout and bench/out/gateway.json.
#
#   bench/gateway/run.sh                # full run (1 GiB per throughput run)
#   GIB=0.25 SETUPS=2000 bench/gateway/run.sh   # a quicker look
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v tinyproxy >/dev/null || ! command -v squid >/dev/null || ! command -v taskset >/dev/null; then
    # Keep the packages' init scripts from starting system-wide daemons we would then have to hunt down.
    created_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        created_policy=yes
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tinyproxy squid util-linux >/dev/null
    [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d
fi

scratch="${SCRATCH:-.build-gateway-release}"
swift build -c release --scratch-path "$scratch" --product paddock-gateway-bench
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/paddock-gateway-bench"
exec python3 bench/gateway/run.py --bench "$bin" "$@"
