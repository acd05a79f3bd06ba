#!/bin/sh
# Session start in clone mode: a repository with about 1 GB of history against one of about 1 MB, with
# `git worktree add` and `git clone --no-hardlinks` as baselines. Usage: bench/clone/run.sh [ROUNDS]
# Generated repositories are cached in $PADDOCK_BENCH_CACHE (default /tmp/paddock-bench-clone), never in the repo.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${PADDOCK_BENCH_CACHE:-/tmp/paddock-bench-clone}
mkdir -p "$cache"
[ -d "$cache/small/.git" ] || python3 "$here/generate.py" "$cache/small"
# About 1 GB of incompressible history; written under a temporary name so an interrupted run is not cached.
if [ ! -d "$cache/large/.git" ]; then
    rm -rf "$cache/large.tmp"
    python3 "$here/generate.py" "$cache/large.tmp" --history-mb 1000
    mv "$cache/large.tmp" "$cache/large"
fi
du -sh "$cache/small/.git" "$cache/large/.git"
PADDOCK_BENCH_CLONE_SMALL="$cache/small" PADDOCK_BENCH_CLONE_LARGE="$cache/large" \
PADDOCK_BENCH_ROUNDS="${1:-7}" \
    swift test --package-path "${PADDOCK_BENCH_PACKAGE:-$root}" --scratch-path "${SCRATCH:-$root/.build-workspace}" \
        --filter CloneStartBenchmark 2>&1 \
    | grep -E '^(bench|✘|✔ Test run)|Expectation'
