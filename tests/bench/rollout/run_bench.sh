#!/usr/bin/env bash
# Rollout benchmark: the planner over a 10,000-device fleet, and the controller's tick from a
# wave's last report to the next wave's dispatch on a real SQLite store (edge-rollout-bench;
# see rollout_bench.cpp for what is measured and the targets). Exits 1 if a target is missed.
# Not a ctest test: the numbers depend on the machine. Record results in docs/benchmarks.md.
#
# Usage: tests/bench/rollout/run_bench.sh [scratch dir]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
preset="${EDGE_PRESET:-ci}"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake --preset "$preset" -S "$root" >/dev/null
cmake --build --preset "$preset" --target edge-rollout-bench >/dev/null
echo "commit $(git -C "$root" rev-parse --short HEAD), $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
"$root/build/$preset/tests/bench/rollout/edge-rollout-bench" "$@"
