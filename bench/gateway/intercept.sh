#!/usr/bin/env bash
# What the gateway's TLS interception (credential and request rules) costs against a plain tunnel, in one run on
# loopback: per-request latency on a kept-alive connection, a new connection's CONNECT + TLS + first request, and
# bulk throughput. One process holds the two HTTPS origins, the gateway and the client (see
# Sources/PaddockGatewayBench/Intercept.swift).
#
#   bench/gateway/intercept.sh                       # 5000 requests, 300 connections, 256 MiB bulk
#   bench/gateway/intercept.sh 2000 100 67108864     # a quicker look
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch="${SCRATCH:-.build-gateway-release}"
swift build -c release --scratch-path "$scratch" --product paddock-gateway-bench
bin="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/paddock-gateway-bench"
exec "$bin" intercept "${1:-5000}" "${2:-300}" "${3:-268435456}"
