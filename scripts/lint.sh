#!/usr/bin/env bash
# swift-format with the checked-in .swift-format: layout, and the rules the code keeps (no force unwraps, no
# `try!`, no implicitly unwrapped optionals). Any finding fails. `scripts/lint.sh --fix` rewrites the files instead.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(Package.swift Sources Tests)
if [ "${1:-}" = "--fix" ]; then
    exec swift format format --in-place --recursive --parallel "${targets[@]}"
fi
exec swift format lint --strict --recursive --parallel "${targets[@]}"
