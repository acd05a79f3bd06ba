#!/usr/bin/env bash
# Relay against folder transport on Linux (issue 13): CONNECT setup p50/p99 and bulk throughput through each
# path a sandbox's connection takes, rebuilt on the host with the same socat commands paddock runs. Namespaces
# add nothing per packet to a unix socket or to the host network the Linux relay uses, so the host-side chain
# is the sandbox's. Loopback only.
#
#   folder: client -> bridge socat (TCP 3128 -> unix, 128 KiB copies) -> gateway's unix socket
#   relay:  client -> bridge socat (TCP -> unix) -> relay socat (unix -> TCP) -> gateway's loopback port,
#           with the session's Proxy-Authorization on every CONNECT
#
#   bench/transport/run.sh                  # release build of the bench tool, 3 rounds
#   BIN=.build/debug/paddock-gateway-bench SETUPS=500 BYTES=268435456 bench/transport/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${BIN:-}" ]; then
    scratch="${SCRATCH:-.build-gateway-release}"
    swift build -c release --scratch-path "$scratch" --product paddock-gateway-bench >&2
    BIN="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/paddock-gateway-bench"
fi
setups="${SETUPS:-2000}"
bytes="${BYTES:-1073741824}"
rounds="${ROUNDS:-3}"
dir="$(mktemp -d /tmp/paddock-transport-bench.XXXXXX)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
origin="$(port)"; gateway="$(port)"; folder="$(port)"; relay="$(port)"
secret="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

"$BIN" origin "$origin" >/dev/null & pids+=($!)
"$BIN" serve-transports "$dir/gateway.sock" "$gateway" "$secret" >/dev/null & pids+=($!)
sleep 1
socat -b 131072 "TCP-LISTEN:$folder,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$dir/gateway.sock" & pids+=($!)
socat -b 131072 "UNIX-LISTEN:$dir/relay.sock,fork,perm=0666,unlink-early" "TCP:127.0.0.1:$gateway" & pids+=($!)
socat -b 131072 "TCP-LISTEN:$relay,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$dir/relay.sock" & pids+=($!)
sleep 0.5

echo "bench: $BIN, $setups setups and $bytes bytes per run, $rounds rounds, $(nproc) CPUs"
for round in $(seq "$rounds"); do
    echo "round $round folder setup     $("$BIN" setup "127.0.0.1:$folder" "127.0.0.1:$origin" "$setups" 1)"
    echo "round $round relay  setup     $(PADDOCK_BENCH_PROXY_AUTH="paddock:$secret" "$BIN" setup "127.0.0.1:$relay" "127.0.0.1:$origin" "$setups" 1)"
    echo "round $round folder throughput $("$BIN" throughput "127.0.0.1:$folder" "127.0.0.1:$origin" "$bytes")"
    echo "round $round relay  throughput $(PADDOCK_BENCH_PROXY_AUTH="paddock:$secret" "$BIN" throughput "127.0.0.1:$relay" "127.0.0.1:$origin" "$bytes")"
done
