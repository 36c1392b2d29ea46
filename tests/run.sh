#!/usr/bin/env bash
# The one test command: install what is missing, configure, build, run every test.
# Exits non-zero on any failure. Usage: tests/run.sh [ctest args...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

deploy/install-deps.sh
# Paths relative to the checkout in ccache keys (and not the directory itself), so a fresh
# clone reuses earlier builds.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
preset="${EDGE_PRESET:-ci}"
jobs="${EDGE_JOBS:-$(nproc)}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs" --timeout 300 "$@"
# A short fuzz smoke run of every parser that takes hostile input (tests/fuzz/run.sh builds
# its own clang preset). EDGE_SKIP_FUZZ=1 skips it; EDGE_FUZZ_SECONDS sets the time per target.
if [ "${EDGE_SKIP_FUZZ:-0}" != 1 ]; then
  tests/fuzz/run.sh "${EDGE_FUZZ_SECONDS:-5}"
fi
