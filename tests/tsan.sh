#!/usr/bin/env bash
# ThreadSanitizer run of the agent: its unit tests (update steps on worker threads, the serving
# set, the inference workers) and integration suites where real agents serve, swap, roll back
# and crash. Not part of tests/run.sh (a cold TSan build takes about 15 minutes on 2 cores);
# the last result is recorded in docs/testing.md. Usage: tests/tsan.sh [ctest args...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

deploy/install-deps.sh
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "${EDGE_JOBS:-$(nproc)}"
# gRPC, protobuf and abseil come from Debian, not built with TSan: their internal locking is
# invisible to it, so reports whose stack lies in them are suppressed (tests/tsan.supp). A race
# in our code still shows.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/tests/tsan.supp ${TSAN_OPTIONS:-}"
ctest --preset tsan -j "${EDGE_JOBS:-$(nproc)}" --timeout 600 \
  -R '^(agent|serve):|^integration\.(spine|swap|probation|crash_points|offline|renewal)$' "$@"
