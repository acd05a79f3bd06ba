#!/usr/bin/env bash
# Fuzzes what parses bytes the agent controls (Tests/Fuzz): builds the libFuzzer binary into .build-fuzz (the
# parsers instrumented; PADDOCK_FUZZ=1 is what adds it to Package.swift), then runs each target for a bounded time,
# starting from its committed corpus in Tests/Fuzz/corpus/<target>/ (with the tokens in Tests/Fuzz/dict/<target>.dict).
#
#   scripts/fuzz.sh [seconds-per-target [target...]]      targets: gateway target config refs (default: all)
#
# Prints executions and crashes per target and exits non-zero if any target crashed (a trap, a failed invariant, a
# hang or running out of memory). The input that did it stays in .build-fuzz/crashes/<target>/; reproduce with
#   PADDOCK_FUZZ_TARGET=<target> .build-fuzz/debug/paddock-fuzz <file>
# New inputs that reached new code go to .build-fuzz/corpus/<target>/ (copy good ones into the committed corpus).
set -euo pipefail

cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-20}"
shift $(($# > 0 ? 1 : 0))
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(gateway target config refs)
SCRATCH=.build-fuzz
BINARY="$SCRATCH/debug/paddock-fuzz"

log() { printf 'fuzz.sh [%4ds]: %s\n' "$SECONDS" "$*" >&2; }

log "building the fuzz targets into $SCRATCH"
# Package.swift instruments paddock's own modules; -Xcxx does the same for the C++ TOML parser (toml++ in TOMLKit),
# which reads paddock.toml and cannot be given flags from the manifest.
PADDOCK_FUZZ=1 swift build --scratch-path "$SCRATCH" --product paddock-fuzz -Xcxx -fsanitize=fuzzer-no-link
log "built"

failed=()
for target in "${TARGETS[@]}"; do
    seeds="Tests/Fuzz/corpus/$target"
    [ -d "$seeds" ] || { log "no corpus $seeds: unknown target $target"; exit 2; }
    work="$SCRATCH/corpus/$target"
    crashes="$SCRATCH/crashes/$target"
    mkdir -p "$work" "$crashes"
    marker=$(mktemp)
    started=$SECONDS
    report="$SCRATCH/fuzz-$target.log"
    dictionary=()
    [ -f "Tests/Fuzz/dict/$target.dict" ] && dictionary=(-dict="Tests/Fuzz/dict/$target.dict")
    # The Swift runtime's backtracer would catch the trap before libFuzzer can save the input.
    status=0
    PADDOCK_FUZZ_TARGET="$target" SWIFT_BACKTRACE=enable=no "$BINARY" \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
        "${dictionary[@]}" -artifact_prefix="$crashes/" "$work" "$seeds" >"$report" 2>&1 || status=$?
    executions=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$report")
    found=$(find "$crashes" -type f -newer "$marker" | wc -l)
    rm -f "$marker"
    log "$target: ${executions:-?} executions in $((SECONDS - started))s, $found crashes (exit $status)"
    if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
        grep -E 'invariant broken|Fatal error|ERROR: libFuzzer|Test unit written|^Base64' "$report" >&2 || tail -n 30 "$report" >&2
        log "$target: full output in $report, crash inputs in $crashes/"
        failed+=("$target")
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    log "crashed: ${failed[*]}"
    exit 1
fi
log "no crashes"
